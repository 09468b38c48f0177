"""Comparing shortcut placement across depths (depth.py), against cases worked by hand."""
import numpy as np

from vggdarts import depth, derive, layout


def test_relative_depth_and_the_nearest_block_of_a_shallower_network():
    assert depth.relative_depth(1, 8) == 0 and depth.relative_depth(8, 8) == 1 and depth.relative_depth(7, 13) == 0.5
    rows = {r["block"]: r for r in depth.by_relative_depth(derive.resnet("vgg16"), derive.resnet())}
    assert sorted(rows) == list(range(3, 14))
    last = rows[13]  # VGG16 block 13 <-> VGG11 block 8: both the last block, each with its i-2 shortcut
    assert (last["other_block"], last["source"], last["other_source"]) == (8, 11, 6)
    assert np.isclose(last["length"], 2 / 12) and np.isclose(last["other_length"], 2 / 7)
    assert rows[7]["other_block"] == 4  # depth 0.5 sits halfway between VGG11's blocks 4 and 5: the shallower
    assert rows[3]["other_block"] == 3  # 2/12 is nearer 2/7 (block 3) than 1/7 (block 2, no candidates)
    none = {r["block"]: r for r in depth.by_relative_depth(derive.none("vgg16"), derive.none())}
    assert none[13]["source"] == 1  # a zero table's argmax is its first candidate (ties go to the smallest j)


def test_stage_flow_of_vgg11_with_every_shortcut_by_hand():
    """VGG11's sums live at stages 1,2,3,3,4,4,5,5 (blocks 1..8) and its outputs at 2,3,3,4,4,5,5,6: block 4
    draws from x_1 (stage 2) and x_2 (stage 3), and so on; each destination stage has two searched blocks."""
    flow = depth.stage_flow(derive.all_edges())
    expected = np.full((5, 5), np.nan)
    expected[:, 2] = [0, 1, 0.5, 0, 0]  # into stage 3: blocks 3 (from 1) and 4 (from 1, 2)
    expected[:, 3] = [0, 1, 2, 0.5, 0]  # into stage 4: blocks 5 (1, 2, 3) and 6 (1, 2, 3, 4)
    expected[:, 4] = [0, 1, 2, 2, 0.5]  # into stage 5: blocks 7 (1..5) and 8 (1..6)
    assert np.array_equal(np.isnan(flow), np.isnan(expected))
    assert np.allclose(flow[~np.isnan(flow)], expected[~np.isnan(expected)])


def test_stage_flow_reads_a_relaxed_table_and_leaves_its_none_column_out():
    rng = np.random.default_rng(0)
    table = rng.random((13, 12))  # VGG16 with a none column
    flow = depth.stage_flow(table)
    same = depth.stage_flow(np.where(derive.all_edges("vgg16"), table[:, :11], 0.0))
    assert np.allclose(flow, same, equal_nan=True) and np.isnan(flow[:, 0]).all()  # no sum at 32 px has a choice
    outputs, sums = depth.stages("vgg16")
    assert outputs == [1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6] and sums == [1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]


def test_pick_summary_by_hand():
    """VGG11, uniform rows except block 4 (0.2, 0.8) and block 5 (0.25, 0.5, 0.25): argmax keeps 3<-1, 4<-2,
    5<-2 and, where a row ties, its first source: 6<-1, 7<-1, 8<-1.  Blocks 4..8 have a choice; of them only
    4<-2 takes x_{i-2} (block 3's x_1 is forced).  Spans 2, 2, 3, 5, 6, 7: mean 25/6 blocks, 25/42 of the depth.
    Decided, (c w_max - 1) / (c - 1) for blocks 4..8: 0.6, 0.25, 0, 0, 0."""
    lay = layout.get("vgg11")
    t = np.where(lay.candidates, 1.0, 0.0)
    t = t / np.maximum(t.sum(1, keepdims=True), 1)
    t[3, :2], t[4, :3] = (0.2, 0.8), (0.25, 0.5, 0.25)
    s = depth.pick_summary(t)
    assert (s["blocks"], s["kept"], s["choice"], s["shortest"]) == (6, 6, 5, 1)
    assert np.isclose(s["span"], 25 / 6) and np.isclose(s["relative_span"], 25 / 42)
    assert np.isclose(s["decided"], 0.85 / 5)
    one_hot = depth.pick_summary(derive.resnet().astype(float))  # VGG11's resnet: x_{i-2} into blocks 3..8, one-hot
    assert (one_hot["shortest"], one_hot["span"], one_hot["decided"]) == (5, 2.0, 1.0)
