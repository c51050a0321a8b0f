"""The YAML loader: every problem reported, each on the line the operator has to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import devices
from devices.loader import ConfigIssue, InventoryError, check_inventory, load_inventory

SAMPLES = Path(devices.__file__).parent / "samples"
ZONE_HINT = "use an IANA name such as Asia/Shanghai"

# Line numbers are on the right; the tests below assert them exactly.
BROKEN = """\
regions:                                                  # 1
  - id: xx-district                                       # 2
    name: XX区                                            # 3
estates:                                                  # 4
  - id: sunrise                                           # 5
    name: 朝阳小区                                        # 6
    region: xx-district                                   # 7
    timezone: Mars/Olympus_Mons                           # 8
    buildings: [B1, B2]                                   # 9
    devices:                                              # 10
      - {id: L1, kind: lift, building: B1}                # 11
      - {id: X1, kind: toaster, building: B1}             # 12
      - {id: CAM1, kind: cctv, building: B1, parent: NVR9}  # 13
      - {id: L1, kind: lift, building: B2}                # 14
      - {id: T1, kind: water_tank, building: B7}          # 15
      - id: D1                                            # 16
        kind: access                                      # 17
        location: 大门                                    # 18
        location: 二门                                    # 19
crews:                                                    # 20
  - id: lift-team                                         # 21
    trades: [lift]                                        # 22
    estates: [sunrise]                                    # 23
    members: [王师傅]                                     # 24
    roster:                                               # 25
      - {name: 长班, start: "08:00", end: "20:00", members: [王师傅]}  # 26
"""


def _write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _lines(issues: list[ConfigIssue]) -> list[tuple[int | None, str]]:
    return [(issue.line, issue.message) for issue in issues]


def test_every_issue_of_a_broken_inventory_is_on_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    kinds = "'lift', 'water_tank', 'access', 'light', 'cctv' or 'patrol'"
    assert _lines(check_inventory(path)) == [
        (8, f"estates[0].timezone: unknown time zone 'Mars/Olympus_Mons': {ZONE_HINT}"),
        (12, f"estates[0].devices[1].kind: Input should be {kinds}"),
        (13, "estates[0].devices[2].parent: parent 'NVR9' is not a device of estate 'sunrise'"),
        (14, "estates[0].devices[3].id: duplicate device id 'L1'"),
        (15, "estates[0].devices[4].building: building 'B7' is not in buildings"),
        (19, "estates[0].devices[5].location: duplicate key (first at line 18)"),
        (26, "crews[0].roster[0]: shift '长班' lasts 12 h, longer than 8 h"),
    ]


def test_load_raises_with_every_issue(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert len(caught.value.issues) == 7
    first = f"{path}:8: estates[0].timezone: unknown time zone 'Mars/Olympus_Mons': {ZONE_HINT}"
    assert str(caught.value).splitlines()[0] == first


def test_yaml_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    text = "estates:\n  - id: sunrise\n    name: 朝阳小区: 二期\n    buildings: [B1]\n"
    [issue] = check_inventory(_write(tmp_path, text))
    assert issue.line == 3
    assert issue.message.startswith("YAML syntax error: mapping values are not allowed")


def test_missing_file_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert _lines(check_inventory(path)) == [(None, "cannot read the inventory: No such file or directory")]
    assert str(check_inventory(path)[0]) == f"{path}: cannot read the inventory: No such file or directory"


def test_file_that_is_not_utf8_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("estates: [{id: s, name: 朝阳小区}]\n".encode("gbk"))
    [issue] = check_inventory(path)
    assert (issue.line, issue.message.startswith("cannot read the inventory: 'utf-8' codec")) == (None, True)


def test_empty_file_is_an_issue(tmp_path: Path) -> None:
    [issue] = check_inventory(_write(tmp_path, ""))
    assert (issue.line, issue.message) == (1, "Input should be a valid dictionary or instance of Inventory")


def test_missing_and_unknown_fields_point_at_their_item(tmp_path: Path) -> None:
    text = (
        "estates:\n"  # 1
        "  - id: sunrise\n"  # 2
        "    name: 朝阳小区\n"  # 3
        "    devices:\n"  # 4
        "      - {id: L1, kind: lift, colour: red}\n"  # 5
        "      - {id: L2}\n"  # 6
        "  - id: sunset\n"  # 7
    )
    assert _lines(check_inventory(_write(tmp_path, text))) == [
        (5, "estates[0].devices[0].colour: Extra inputs are not permitted"),
        (6, "estates[0].devices[1].kind: Field required"),
        (7, "estates[1].name: Field required"),
    ]


def test_unquoted_time_gets_a_hint(tmp_path: Path) -> None:
    text = (
        "estates:\n"
        "  - id: sunrise\n"
        "    name: 朝阳小区\n"
        "    checkpoints: [{id: CP1}]\n"
        "    patrols:\n"
        "      - id: grounds\n"
        "        route: [CP1]\n"
        "        windows:\n"
        "          - {name: day, start: 16:00, end: '20:00', rounds: 2}\n"  # 9
    )
    [issue] = check_inventory(_write(tmp_path, text))
    assert issue.line == 9
    assert issue.message.startswith('estates[0].patrols[0].windows[0].start: write times as quoted "HH:MM"')


def test_deep_region_tree_errors_are_located(tmp_path: Path) -> None:
    text = (
        "regions:\n"
        "  - id: city\n"
        "    name: 市\n"
        "    children:\n"
        "      - id: district\n"
        "        name: 区\n"
        "        children:\n"
        "          - {id: street 1, name: 一街道}\n"  # 8
        "          - {id: district, name: 重名}\n"  # 9
        "estates: []\n"
    )
    assert _lines(check_inventory(_write(tmp_path, text))) == [
        (8, "regions[0].children[0].children[0].id: String should match pattern '^[A-Za-z0-9_-]{1,64}$'"),
        (9, "regions[0].children[0].children[1].id: duplicate region id 'district'"),
    ]


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = (
        "estates:\n"
        "  - id: sunrise\n"
        "    name: 朝阳小区\n"
        "    buildings: [B1, B2]\n"
        "    devices:\n"
        "      - &cam {id: CAM1, kind: cctv, building: B1, key: true}\n"
        "      - {<<: *cam, id: CAM2}\n"
        "      - {<<: *cam, id: CAM3, building: B2}\n"
    )
    estate = load_inventory(_write(tmp_path, text)).estates[0]
    assert [(d.id, d.building, d.key) for d in estate.devices] == [
        ("CAM1", "B1", True),
        ("CAM2", "B1", True),
        ("CAM3", "B2", True),
    ]


def test_duplicate_top_level_key_is_reported(tmp_path: Path) -> None:
    text = "estates: []\ncrews: []\nestates: []\n"
    assert _lines(check_inventory(_write(tmp_path, text))) == [
        (3, "estates: duplicate key (first at line 1)")
    ]


@pytest.mark.parametrize("name", ["spec_example.yaml", "sunrise.yaml"])
def test_shipped_samples_have_no_issues(name: str) -> None:
    assert check_inventory(SAMPLES / name) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "estates:\n  - [\x07]\n",
            (2, "YAML syntax error: unacceptable character #x0007: control characters are not allowed"),
        ),
        ("estates: &a [*a]\n", (None, "YAML nests too deep (an alias inside its own anchor?)")),
        (
            "estates:\n  - {id: s, name: n, holidays: {holidays: [2026-02-30]}}\n",
            (
                2,
                "estates[0].holidays.holidays[0]: Input should be a valid date or datetime, "
                "day value is outside expected range",
            ),
        ),
    ],
    ids=["control-character", "recursive-alias", "impossible-date"],
)
def test_odd_yaml_is_an_issue_not_a_crash(
    tmp_path: Path, text: str, expected: tuple[int | None, str]
) -> None:
    assert _lines(check_inventory(_write(tmp_path, text))) == [expected]
