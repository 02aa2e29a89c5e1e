"""`tidings dev --seed FILE` and `--demo`, the built-in seed: loading, checking, writing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.messaging.models import MessageModel
from tidings_local.cli import main
from tidings_local.seed import DEMO_SEED, SeedError, apply_seed, load_seeds

GOOD = {
    "users": [
        {"userId": "pat", "displayName": "Pat", "email": "pat@example.com"},
        {"userId": "sam", "displayName": "Sam", "avatarUrl": "https://cdn.example.com/sam.png"},
    ],
    "chats": [
        {"chatId": "ops", "type": "group", "name": "Ops", "members": ["pat", "sam"], "admins": ["pat"]},
        {"chatId": "dm-pat-sam", "type": "dm", "members": ["pat", "sam"]},
    ],
}


def write(tmp_path: Path, document: object, name: str = "seed.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_demo_seed_is_the_documented_demo_data() -> None:
    """docs/protocol.md, "The demo data": exactly these users and chats."""
    seed = load_seeds([DEMO_SEED])
    assert {u.userId: u.displayName for u in seed.users.values()} == {
        "alice": "Alice",
        "bob": "Bob",
        "carol": "Carol",
        "dave": "Dave",
        "erin": "Erin",
    }
    assert [(c.chatId, c.type, c.name, c.members, c.admins) for c in seed.chats] == [
        ("dm-alice-bob", "dm", None, ["alice", "bob"], []),
        ("project-x", "group", "Project X", ["alice", "bob", "carol"], ["alice"]),
        ("general", "channel", "general", ["alice", "bob", "carol", "dave", "erin"], ["alice"]),
    ]


def test_a_seed_is_written_through_the_models(aws, tmp_path: Path) -> None:
    apply_seed(load_seeds([write(tmp_path, GOOD)]))
    assert UserModel.get("pat").email == "pat@example.com"
    assert UserModel.get("sam").avatar_url == "https://cdn.example.com/sam.png"
    assert ChatModel.get("ops").name == "Ops"
    assert {m.user_id: m.role for m in MemberModel.query("ops")} == {"pat": "admin", "sam": "member"}
    assert ChatModel.get("dm-pat-sam").chat_type == "dm"


def test_yaml_works_as_json(tmp_path: Path) -> None:
    yaml_text = (
        "users:\n  - {userId: pat, displayName: Pat}\nchats:\n  - {chatId: c, type: group, name: C, members: [pat]}\n"
    )
    seed = load_seeds([write(tmp_path, yaml_text, "seed.yaml")])
    assert list(seed.users) == ["pat"] and seed.chats[0].chatId == "c"


def test_a_later_file_may_use_the_demo_users(tmp_path: Path) -> None:
    extra = {"chats": [{"chatId": "x", "type": "group", "name": "X", "members": ["alice", "bob"]}]}
    seed = load_seeds([DEMO_SEED, write(tmp_path, extra)])
    assert [c.chatId for c in seed.chats][-1] == "x"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["users"][1].update(userId="s m"), "users[1].userId"),
        (lambda d: d["users"][0].pop("displayName"), "users[0].displayName"),
        (lambda d: d["users"][1].update(avatarUrl="javascript:alert(1)"), "users[1].avatarUrl"),
        (lambda d: d["chats"][0].update(type="room"), "chats[0].type"),
        (lambda d: d["chats"][0]["members"].append("zed"), "chats[0].members[2]"),
        (lambda d: d["chats"][0].update(admins=["zed"]), "chats[0]"),
        (lambda d: d["chats"][1]["members"].append("pat"), "chats[1].members"),
        (lambda d: d["chats"][0].pop("name"), "chats[0]"),
        (lambda d: d["chats"].append(dict(d["chats"][0])), "chats[2].chatId"),
        (lambda d: d["chats"][0].update(colour="red"), "chats[0].colour"),
    ],
)
def test_a_bad_entry_names_the_file_the_entry_and_the_field(tmp_path: Path, change, named: str) -> None:
    document = json.loads(json.dumps(GOOD))
    change(document)
    path = write(tmp_path, document)
    with pytest.raises(SeedError) as refused:
        load_seeds([path])
    assert str(refused.value).startswith(f"{path}: {named}")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_a_file_that_is_not_a_seed_document_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SeedError, match=str(path)):
        load_seeds([path])


def test_tidings_dev_with_a_bad_seed_fails_at_start_with_the_reason(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, {"users": [{"userId": "pat"}]})
    assert main(["dev", "--port", "0", "--seed", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}: users[0].displayName" in error and "Traceback" not in error
    assert main(["dev", "--port", "0", "--seed", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_a_chats_messages_are_its_history_in_order(aws, tmp_path: Path) -> None:
    document = {
        "users": GOOD["users"],
        "chats": [
            {
                "chatId": "ops",
                "type": "group",
                "name": "Ops",
                "members": ["pat", "sam"],
                # more than a batch write's 25 items, and than the 10 a second a sender may send
                "messages": [{"sender": ("pat", "sam")[i % 2], "content": f"note {i}"} for i in range(30)]
                + [{"sender": "pat", "content": "@sam and @zed: see above"}],
            }
        ],
    }
    apply_seed(load_seeds([write(tmp_path, document)]))
    stored = sorted(MessageModel.query("ops"), key=lambda m: m.seq)
    assert [(m.seq, m.sender_id, m.sender_name, m.content) for m in stored[:30]] == [
        (i + 1, ("pat", "sam")[i % 2], ("Pat", "Sam")[i % 2], f"note {i}") for i in range(30)
    ]
    assert (stored[30].seq, stored[30].mentions) == (31, ["sam"])  # resolved as a send does: zed is no member
    assert len({m.message_id for m in stored}) == 31
    assert ChatModel.get("ops").head_seq == 31


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"sender": "zed", "content": "hi"}, "sent by ['zed'], who are not members"),
        ({"sender": "pat", "content": ""}, "chats[0].messages[0].content"),
        ({"sender": "pat"}, "chats[0].messages[0].content"),
        ({"sender": "pat", "content": "hi", "at": "noon"}, "chats[0].messages[0].at"),
    ],
)
def test_a_bad_seed_message_is_named(tmp_path: Path, message: dict[str, str], error: str) -> None:
    chat = {"chatId": "ops", "type": "group", "name": "Ops", "members": ["pat", "sam"], "messages": [message]}
    with pytest.raises(SeedError, match=re.escape(error)):
        load_seeds([write(tmp_path, {"users": GOOD["users"], "chats": [chat]})])


def test_the_readme_seed_example_loads(aws, tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("```yaml\nusers:", 1)[1].split("```", 1)[0]
    apply_seed(load_seeds([write(tmp_path, "users:" + example, name="seed.yaml")]))
    history = sorted(MessageModel.query("dm-pat-sam"), key=lambda m: m.seq)
    assert [(m.sender_id, m.mentions) for m in history] == [("pat", ["sam"]), ("sam", [])]
