"""`audit verify` catches every kind of tampering an attacker with database access can do (the
append-only triggers dropped first), on SQLite and PostgreSQL, and names the seq."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from robot_controller.proof import folder as files
from robot_controller.proof.keys import generate
from robot_controller.proof.note import Checkpoint, body
from robot_controller.proof.verify import verify
from robot_controller.store import Store
from robot_controller.store.audit import chain_hash
from tests.support.audit import Attacker, Signed, signed_store


@pytest.fixture
def signed(store: Store, tmp_path: Path) -> Signed:
    """30 events, signed at seq 10, 20 and 30 (a file for each too)."""
    chain = signed_store(store, tmp_path)
    for _ in range(3):
        chain.record(10)
        assert chain.checkpoints.if_due() is not None
    return chain


def test_an_untouched_chain_and_its_checkpoints_verify(signed: Signed) -> None:
    report = signed.verify()
    assert report.ok, report.findings
    assert (report.events, report.first_seq, report.last_seq) == (30, 1, 30)
    assert (report.checkpoints, report.files, report.unsigned) == (3, 3, 0)


def test_an_edited_field_is_named_by_its_seq(signed: Signed) -> None:
    Attacker(signed.store).run("UPDATE audit_events SET why = 'forged' WHERE id = 14")
    assert signed.found() == {("edited", 14)}


def test_an_edited_event_whose_hash_was_recomputed_breaks_the_link_after_it(
    signed: Signed,
) -> None:
    attacker = Attacker(signed.store)
    attacker.run("UPDATE audit_events SET why = 'forged' WHERE id = 14")
    event, prev, _ = attacker.event(14)
    attacker.run(
        "UPDATE audit_events SET hash = :digest WHERE id = 14", digest=chain_hash(14, prev, event)
    )
    assert signed.found() == {("unlinked", 15)}


def test_a_deleted_row_is_a_gap_at_its_seq(signed: Signed) -> None:
    Attacker(signed.store).run("DELETE FROM audit_events WHERE id = 14")
    found = signed.verify().findings
    assert [(f.kind, f.seq) for f in found] == [("missing", 14)]
    assert found[0].message == "seq 14: missing (1 event deleted)"


def test_rows_deleted_and_the_rest_renumbered_are_one_finding(signed: Signed) -> None:
    attacker = Attacker(signed.store)
    attacker.run(
        "DELETE FROM audit_events WHERE id = 14",
        "UPDATE audit_events SET id = -(id - 1) WHERE id > 14",
        "UPDATE audit_events SET id = -id WHERE id < 0",
    )
    report = signed.verify()
    moved = [f for f in report.findings if f.kind == "moved"]
    assert [(f.seq, f.message) for f in moved] == [
        (14, "seq 14–29: each holds the event recorded 1 seq later (rows deleted before seq 14, "
         "the rest renumbered)")
    ]  # fmt: skip
    assert ("truncated", 30) in {(f.kind, f.seq) for f in report.findings}


def test_an_inserted_row_is_named(signed: Signed) -> None:
    Attacker(signed.store).insert_after(14, "a pack that never was")
    found = signed.found()
    assert ("inserted", 15) in found
    assert ("moved", 17) in found  # the rest hold the events recorded one seq earlier
    assert not {kind for kind, _ in found} & {"edited", "missing"}


def test_two_rows_swapped_are_named_each(signed: Signed) -> None:
    Attacker(signed.store).run(
        "UPDATE audit_events SET id = -1 WHERE id = 14",
        "UPDATE audit_events SET id = 14 WHERE id = 15",
        "UPDATE audit_events SET id = 15 WHERE id = -1",
    )
    report = signed.verify()
    assert [f.message for f in report.findings] == [
        "seq 14: holds the event recorded as seq 15 (rows reordered or renumbered)",
        "seq 15: holds the event recorded as seq 14 (rows reordered or renumbered)",
    ]


def test_a_truncated_tail_is_caught_by_the_last_checkpoint(signed: Signed) -> None:
    Attacker(signed.store).run("DELETE FROM audit_events WHERE id > 25")
    report = signed.verify()
    assert [(f.kind, f.seq) for f in report.findings] == [("truncated", 30)]
    assert "events 26–30 were removed" in report.findings[0].message


def test_a_truncated_tail_whose_checkpoints_were_deleted_too_is_caught_by_the_files(
    signed: Signed,
) -> None:
    Attacker(signed.store).run(
        "DELETE FROM audit_events WHERE id > 15", "DELETE FROM audit_checkpoints WHERE seq > 15"
    )
    found = signed.found()
    assert found == {("file-not-in-store", 20), ("file-not-in-store", 30), ("truncated", 30)}
    assert signed.verify(folder=signed.folder.parent / "elsewhere").ok  # without the files …


def test_a_checkpoint_signed_by_another_key_is_named(signed: Signed, tmp_path: Path) -> None:
    other = generate(tmp_path / "other.key")
    at = signed.clock()
    head = signed.store.audit_head()
    signed.store.add_checkpoint(
        head[0], head[1], at=at, key_id=other.public.key_id,
        signature=other.sign(body(head[0], head[1], at)),
    )  # fmt: skip
    found = signed.verify().findings
    assert [(f.kind, f.seq) for f in found] == [("other-key", 30)]
    assert other.public.key_id in found[0].message


def test_a_checkpoint_whose_head_was_altered_has_a_bad_signature(signed: Signed) -> None:
    _, _, forged = Attacker(signed.store).event(25)
    Attacker(signed.store).run(
        "UPDATE audit_checkpoints SET head_hash = :h, seq = 25 WHERE seq = 30", h=forged
    )
    assert ("bad-signature", 25) in signed.found()


def test_a_rewritten_chain_with_re_signed_store_checkpoints_is_caught_by_the_files(
    signed: Signed,
) -> None:
    attacker = Attacker(signed.store)  # who also found the key beside the store
    attacker.run("UPDATE audit_events SET why = 'forged' WHERE id = 14")
    attacker.rehash_from(14)
    for seq in (20, 30):
        _, _, digest = attacker.event(seq)
        at = signed.clock()
        attacker.run(
            "UPDATE audit_checkpoints SET head_hash = :h, at = :at, signature = :s "
            "WHERE seq = :seq",
            h=digest, at=at, s=signed.key.sign(body(seq, digest, at)), seq=seq,
        )  # fmt: skip
    assert signed.verify(folder=signed.folder.parent / "elsewhere").ok  # the store alone …
    found = signed.found()  # … but not the files
    assert {("file-disagrees", 20), ("file-disagrees", 30), ("head-differs", 20),
            ("head-differs", 30)} == found  # fmt: skip


def test_a_corrupt_checkpoint_file_is_one_finding_naming_it(signed: Signed) -> None:
    broken = sorted(signed.folder.iterdir())[1]
    broken.write_bytes(b"\xff\xfe not a checkpoint")
    (signed.folder / "000000000099-9.checkpoint").write_text("fmd-robot audit log\n99\n")
    report = signed.verify()
    assert [(f.kind, f.message) for f in report.findings] == [
        ("corrupt-file", f"checkpoint file {broken}: corrupt: not UTF-8 text"),
        ("corrupt-file", f"checkpoint file {signed.folder / '000000000099-9.checkpoint'}: "
         "corrupt: no blank line before the signature"),
    ]  # fmt: skip


def test_a_file_whose_signature_was_altered_is_a_bad_signature(signed: Signed) -> None:
    path = sorted(signed.folder.iterdir())[0]
    checkpoint = files.read(signed.folder).__next__()[1]
    assert isinstance(checkpoint, Checkpoint)
    flipped = base64.b64encode(bytes(64)).decode()
    path.write_text(Checkpoint(checkpoint.seq, checkpoint.head_hash, checkpoint.at,
                               checkpoint.key_id, flipped).note)  # fmt: skip
    assert signed.found() == {("file-disagrees", 10), ("bad-signature", 10)}
    disagrees = next(f for f in signed.verify().findings if f.kind == "file-disagrees")
    assert disagrees.message.endswith("differs from it (signature)")


def test_checked_against_the_wrong_key_every_checkpoint_is_named(
    signed: Signed, tmp_path: Path
) -> None:
    wrong = generate(tmp_path / "wrong.key")
    report = verify(signed.store, [wrong.public], signed.folder)
    assert {(f.kind, f.seq) for f in report.findings} == {
        ("other-key", 10), ("other-key", 20), ("other-key", 30)
    }  # fmt: skip


def test_events_after_the_last_checkpoint_are_counted_not_broken(signed: Signed) -> None:
    signed.record(4)
    report = signed.verify()
    assert report.ok
    assert report.unsigned == 4


def test_a_checkpoint_falls_due_after_its_events_or_its_time(signed: Signed) -> None:
    signed.record(9)
    assert signed.checkpoints.if_due() is None
    signed.clock.now += timedelta(minutes=10)
    due = signed.checkpoints.if_due()
    assert due is not None
    assert due.seq == 39
    assert signed.checkpoints.if_due() is None  # nothing new to sign
    assert signed.checkpoints.if_new() is None
    signed.record(1)
    stopped = signed.checkpoints.if_new()  # a clean stop signs what came since
    assert stopped is not None
    assert stopped.seq == 40
