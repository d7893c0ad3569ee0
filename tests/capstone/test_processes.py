"""The chat as real processes on 127.0.0.1: a broker, three members, a SIGKILL and a restart.

Every member ends with the same history: every message, none twice, each reply
after the message it answers; the member that was killed catches up on what it
missed and keeps what it had shown before. Every wait is for a line a process
printed, under one deadline; nothing sleeps.
"""

from __future__ import annotations

import trio

from reference.capstone.process_runs import open_chat

ROOM = {"alice": "r1", "bob": "r1", "carol": "r1"}
DEADLINE = 60  # seconds for the whole run; it takes a few


def check_history(history: list[dict], expected_ids: set[tuple]) -> None:
    ids = [tuple(shown["id"]) for shown in history]
    assert len(ids) == len(set(ids)), f"shown twice: {ids}"
    assert set(ids) == expected_ids
    position = {message_id: index for index, message_id in enumerate(ids)}
    for shown in history:
        if shown["reply_to"] is not None:
            assert position[tuple(shown["reply_to"])] < position[tuple(shown["id"])]


async def test_three_member_processes_survive_a_sigkill_and_agree(tmp_path):
    with trio.fail_after(DEADLINE):
        async with open_chat(tmp_path, ROOM) as chat:
            alice, bob, carol = (chat.members[name] for name in ROOM)
            hello = await alice.post("hello, room")
            for member in (alice, bob, carol):
                await member.wait_shown(1)
                assert member.shown[0]["id"] == hello
            answer = await bob.reply(1, "hello, alice")
            for member in (alice, bob, carol):
                await member.wait_shown(2)
            assert carol.shown[1]["reply_to"] == hello

            carol.kill()
            missed = [await alice.post("while carol is away"), await bob.post("me too")]
            await alice.wait_shown(4)
            await bob.wait_shown(4)

            carol = await chat.restart("carol")
            await carol.wait_shown(4)  # two restored from its file, two caught up
            assert [shown["restored"] for shown in carol.shown[:2]] == [True, True]
            assert {tuple(shown["id"]) for shown in carol.shown[2:]} == set(map(tuple, missed))
            late_reply = await carol.reply(3, "sorry I missed that")
            for member in (alice, bob, carol):
                await member.wait_shown(5)

            expected = {tuple(i) for i in (hello, answer, *missed, late_reply)}
            for member in (alice, bob, carol):
                check_history(await member.history(), expected)
            assert [m["id"] for m in carol.shown if m["id"] == late_reply] == [late_reply]
