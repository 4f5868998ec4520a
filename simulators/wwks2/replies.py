"""The simulated robot's Hello, Status and Input messages (pure builders)."""

from __future__ import annotations

from simulators.wwks2.scans import Reading
from simulators.wwks2.settings import RobotSettings, ScanPack, ShelfPack
from wwks2 import messages as m

CAPABILITIES = ("KeepAlive", "Status", "Input", "Output", "StockInfo", "TaskInfo", "TaskCancel")


def robot_subscriber(settings: RobotSettings) -> m.Subscriber:
    return m.Subscriber(
        id=settings.subscriber, type=m.SubscriberType.ROBOT,
        manufacturer=settings.manufacturer, product_info=settings.product_info,
        version_info=settings.version_info,
        capabilities=tuple(m.Capability(name) for name in CAPABILITIES),
    )  # fmt: skip


def status_response(
    request: m.StatusRequest, settings: RobotSettings, state: m.State
) -> m.StatusResponse:
    components: tuple[m.Component, ...] = ()
    if request.include_details:
        storage = m.Component(m.ComponentType.STORAGE_SYSTEM, settings.storage_description, state)
        components = (storage,)
    return m.StatusResponse(
        id=request.id, source=settings.subscriber, destination=request.source, state=state,
        components=components,
    )  # fmt: skip


def input_request(
    request_id: str, component: int, pack: ScanPack, reading: Reading, given: set[str],
    new_delivery: bool,
) -> m.InputRequest:  # fmt: skip
    """The InputRequest for `pack` with the parts of `reading` named in `given` (batch, serial,
    expiry); Destination 0: set per connection."""
    serial = reading.serial if "serial" in given else None
    expiry = reading.expiry if "expiry" in given else None
    return m.InputRequest(
        id=request_id, source=component, destination=0, is_new_delivery=new_delivery,
        articles=(
            m.InputRequestArticle(
                id=reading.article,
                packs=(
                    m.InputRequestPack(
                        index=0, scan_code=pack.code, delivery_number=pack.delivery_number,
                        batch_number=reading.batch if "batch" in given else None,
                        external_id=serial, serial_number=serial, expiry_date=expiry,
                        expiry_date_source=reading.expiry_source if expiry else None,
                    ),
                ),
            ),
        ),
    )  # fmt: skip


def input_message(
    request_id: str, component: int, pack: ScanPack, new_delivery: bool, article: str,
    stored: ShelfPack | None, text: str | None,
) -> m.InputMessage:  # fmt: skip
    """Completed with the stored pack's Id and attributes, or Aborted with Pack Id 0."""
    result = m.InputResult.COMPLETED if stored else m.InputResult.ABORTED
    return m.InputMessage(
        id=request_id, source=component, destination=0, is_new_delivery=new_delivery,
        articles=(
            m.InputMessageArticle(
                id=article,
                packs=(
                    m.InputMessagePack(
                        id=stored.id if stored else 0,
                        handling=m.InputMessageHandling(result, text),
                        index=0,
                        delivery_number=pack.delivery_number,
                        batch_number=stored.batch if stored else None,
                        external_id=stored.serial if stored else None,
                        serial_number=stored.serial if stored else None,
                        expiry_date=stored.expiry if stored else None,
                        scan_code=pack.code,
                    ),
                ),
            ),
        ),
    )  # fmt: skip
