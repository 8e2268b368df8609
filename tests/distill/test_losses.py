"""The distillation losses: hand-worked values, float64 numpy re-computations of each paper's formula,
reductions, where gradient flows, invariances, input errors and bf16 behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdsurvey.distill.losses import (
    attention_loss,
    byot_loss,
    cskd_loss,
    dml_loss,
    hint_loss,
    kd_loss,
    kdcl_loss,
    kdcl_teacher,
    one_ensemble,
    one_loss,
    pkt_loss,
    rkd_loss,
    similarity_loss,
)


def randn(*shape, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def random_gate(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.softmax(randn(n, k, seed=seed), dim=1)


def labels_for(n: int, classes: int, seed: int) -> torch.Tensor:
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


def np64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


# --- float64 numpy references, written from the papers' formulas -------------------------------------


def ref_softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = z / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) of each row."""
    return np.sum(p * (np.log(p) - np.log(q)), axis=1)


def ref_kd(student: np.ndarray, teacher: np.ndarray, temperature: float) -> float:
    p_t, p_s = ref_softmax(teacher, temperature), ref_softmax(student, temperature)
    return float(ref_kl_rows(p_t, p_s).mean() * temperature**2)


def ref_adaptive_pool(f: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """PyTorch's adaptive average pooling: window [floor(i*H/h), ceil((i+1)*H/h))."""
    n, c, h, w = f.shape
    out = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        h0, h1 = (i * h) // out_h, -((-(i + 1) * h) // out_h)
        for j in range(out_w):
            w0, w1 = (j * w) // out_w, -((-(j + 1) * w) // out_w)
            out[:, :, i, j] = f[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def ref_attention(fs: np.ndarray, ft: np.ndarray, p: float) -> float:
    h, w = min(fs.shape[2], ft.shape[2]), min(fs.shape[3], ft.shape[3])
    maps = []
    for f in (ref_adaptive_pool(fs, h, w), ref_adaptive_pool(ft, h, w)):
        a = (np.abs(f) ** p).mean(axis=1).reshape(len(f), -1)
        maps.append(a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12))
    return float(((maps[0] - maps[1]) ** 2).mean())


def ref_similarity(fs: np.ndarray, ft: np.ndarray) -> float:
    n = len(fs)
    grams = []
    for f in (fs.reshape(n, -1), ft.reshape(n, -1)):
        g = f @ f.T
        grams.append(g / np.linalg.norm(g, axis=1, keepdims=True))
    return float(((grams[1] - grams[0]) ** 2).sum() / n**2)


def ref_huber(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 1, 0.5 * x**2, np.abs(x) - 0.5)


def ref_rkd(s: np.ndarray, t: np.ndarray, wd: float, wa: float) -> float:
    def distances(e):
        d = np.sqrt(((e[:, None, :] - e[None, :, :]) ** 2).sum(axis=2))
        return d / d[d > 0].mean()

    def angles(e):
        n = len(e)
        cos = np.zeros((n, n, n))
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    u, v = e[j] - e[i], e[k] - e[i]
                    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
                    if nu > 0 and nv > 0:
                        cos[i, j, k] = u @ v / (nu * nv)
        return cos

    s, t = s.reshape(len(s), -1), t.reshape(len(t), -1)
    return float(wd * ref_huber(distances(s) - distances(t)).mean() + wa * ref_huber(angles(s) - angles(t)).mean())


def ref_pkt(s: np.ndarray, t: np.ndarray, eps: float = 1e-7) -> float:
    def conditional(e):
        e = e.reshape(len(e), -1)
        u = e / (np.linalg.norm(e, axis=1, keepdims=True) + eps)
        k = (u @ u.T + 1) / 2
        return k / k.sum(axis=1, keepdims=True)

    p_s, p_t = conditional(s), conditional(t)
    return float((p_t * np.log((p_t + eps) / (p_s + eps))).mean())


def ref_dml(peers: list[np.ndarray], temperature: float) -> float:
    probs = [ref_softmax(z, temperature) for z in peers]
    total = 0.0
    for i, p_i in enumerate(probs):
        kls = [ref_kl_rows(p_j, p_i).mean() for j, p_j in enumerate(probs) if j != i]
        total += np.mean(kls) * temperature**2
    return float(total)


def ref_one(branches: list[np.ndarray], gate: np.ndarray, temperature: float) -> float:
    teacher = sum(gate[:, [k]] * z for k, z in enumerate(branches))
    return sum(ref_kd(z, teacher, temperature) for z in branches)


def ref_kdcl_teacher(peers: list[np.ndarray], labels: np.ndarray, ensemble: str) -> np.ndarray:
    if ensemble == "mean":
        return np.mean(peers, axis=0)
    rows = np.arange(len(labels))
    return np.min([z - z[rows, labels][:, None] for z in peers], axis=0)


def ref_byot(logits: list[np.ndarray], features: list[np.ndarray], temperature: float, weight: float) -> float:
    total = 0.0
    for z, f in zip(logits[:-1], features[:-1]):
        sq = ((f - features[-1]) ** 2).reshape(len(f), -1).sum(axis=1)
        total += ref_kd(z, logits[-1], temperature) + weight * sq.mean()
    return total


# --- hand-worked values ------------------------------------------------------------------------------


def test_kd_of_equal_logits_is_zero():
    z = randn(6, 10, seed=0)
    for t in (1.0, 4.0, 20.0):
        assert kd_loss(z, z.clone(), t).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_two_class_closed_form():
    student = torch.zeros(1, 2)  # p_s = (1/2, 1/2)
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # p_t = (3/4, 1/4) at T = 1
    expected_t1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kd_loss(student, teacher, 1.0).item() == pytest.approx(expected_t1, rel=1e-6)
    # at T = 2 the teacher becomes (sqrt3, 1) / (sqrt3 + 1); times T^2 = 4
    a = math.sqrt(3.0) / (math.sqrt(3.0) + 1)
    expected_t2 = 4 * (a * math.log(2 * a) + (1 - a) * math.log(2 * (1 - a)))
    assert kd_loss(student, teacher, 2.0).item() == pytest.approx(expected_t2, rel=1e-6)


def test_kd_scales_by_temperature_squared():
    # softening 2a by T = 2 gives the same distributions as a at T = 1, so only the T^2 factor differs
    student, a = randn(5, 7, seed=1), randn(5, 7, seed=2)
    assert kd_loss(2 * student, 2 * a, 2.0).item() == pytest.approx(4 * kd_loss(student, a, 1.0).item(), rel=1e-5)


def test_dml_two_peers_closed_form():
    z1, z2 = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])
    kl_21 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    kl_12 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert dml_loss([z1, z2]).item() == pytest.approx(kl_21 + kl_12, rel=1e-6)


def test_one_ensemble_by_hand():
    z1, z2 = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 8.0]])
    gate = torch.tensor([[0.25, 0.75]])
    assert one_ensemble([z1, z2], gate).tolist() == [[1.0, 6.0]]


def test_kdcl_min_logit_teacher_by_hand():
    p1, p2 = torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[3.0, 0.0, 1.0]])
    # minus each peer's true-class logit (class 0): (0, 1, -1) and (0, -3, -2); elementwise min
    assert kdcl_teacher([p1, p2], torch.tensor([0])).tolist() == [[0.0, -3.0, -2.0]]
    assert kdcl_teacher([p1, p2], torch.tensor([0]), ensemble="mean").tolist() == [[2.0, 1.0, 0.5]]


def test_kdcl_min_logit_teacher_is_at_least_as_sure_of_the_label_as_every_peer():
    peers = [randn(16, 10, seed=s) for s in (3, 4, 5)]
    y = labels_for(16, 10, seed=6)
    rows = torch.arange(16)
    p_teacher = torch.softmax(kdcl_teacher(peers, y), dim=1)[rows, y]
    for z in peers:
        assert (p_teacher >= torch.softmax(z, dim=1)[rows, y] - 1e-6).all()


def test_hint_by_hand():
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.tensor([[1.0, 0.0], [3.0, 5.0]])
    assert hint_loss(s, t).item() == pytest.approx((0 + 4 + 0 + 1) / 4)


def test_attention_by_hand():
    # one sample, one channel, 1x2 maps: |f|^2 = (3, 4) -> normalised (0.6, 0.8); teacher (1, 0)
    s = torch.tensor([[[[math.sqrt(3.0), 2.0]]]])
    t = torch.tensor([[[[1.0, 0.0]]]])
    assert attention_loss(s, t).item() == pytest.approx(((0.6 - 1) ** 2 + 0.8**2) / 2, rel=1e-6)


# --- against the numpy references on random inputs ---------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_matches_reference(temperature):
    s, t = randn(12, 10, seed=10, scale=3), randn(12, 10, seed=11, scale=3)
    assert kd_loss(s, t, temperature).item() == pytest.approx(ref_kd(np64(s), np64(t), temperature), rel=1e-5)


def test_hint_matches_reference():
    s, t = randn(4, 3, 5, 5, seed=12), randn(4, 3, 5, 5, seed=13)
    assert hint_loss(s, t).item() == pytest.approx(float(((np64(s) - np64(t)) ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize(
    ("s_shape", "t_shape", "p"),
    [((4, 3, 8, 8), (4, 6, 8, 8), 2), ((4, 3, 8, 8), (4, 5, 4, 4), 2), ((3, 2, 7, 5), (3, 4, 3, 6), 3)],
)
def test_attention_matches_reference(s_shape, t_shape, p):
    s, t = randn(*s_shape, seed=14), randn(*t_shape, seed=15)
    assert attention_loss(s, t, p=p).item() == pytest.approx(ref_attention(np64(s), np64(t), p), rel=1e-5)


def test_similarity_matches_reference():
    s, t = randn(6, 3, 4, 4, seed=16), randn(6, 8, 2, 2, seed=17)
    assert similarity_loss(s, t).item() == pytest.approx(ref_similarity(np64(s), np64(t)), rel=1e-5)


def test_rkd_matches_reference():
    s, t = randn(6, 5, seed=18), randn(6, 2, 2, 2, seed=19, scale=4)
    expected = ref_rkd(np64(s), np64(t), 25.0, 50.0)
    assert rkd_loss(s, t).item() == pytest.approx(expected, rel=1e-4)
    assert rkd_loss(s, t, distance_weight=1.0, angle_weight=0.0).item() == pytest.approx(
        ref_rkd(np64(s), np64(t), 1.0, 0.0), rel=1e-4
    )


def test_pkt_matches_reference():
    s, t = randn(8, 6, seed=20), randn(8, 3, 2, seed=21)
    assert pkt_loss(s, t).item() == pytest.approx(ref_pkt(np64(s), np64(t)), rel=1e-4)


@pytest.mark.parametrize(("peers", "temperature"), [(2, 1.0), (3, 1.0), (4, 3.0)])
def test_dml_matches_reference(peers, temperature):
    logits = [randn(10, 7, seed=30 + i, scale=2) for i in range(peers)]
    expected = ref_dml([np64(z) for z in logits], temperature)
    assert dml_loss(logits, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_one_matches_reference():
    branches = [randn(9, 6, seed=40 + i, scale=2) for i in range(3)]
    gate = random_gate(9, 3, seed=43)
    expected = ref_one([np64(z) for z in branches], np64(gate), 3.0)
    assert one_loss(branches, gate).item() == pytest.approx(expected, rel=1e-5)
    ensemble = sum(np64(gate)[:, [k]] * np64(z) for k, z in enumerate(branches))
    assert np.allclose(one_ensemble(branches, gate).numpy(), ensemble, atol=1e-6)


@pytest.mark.parametrize("ensemble", ["min_logit", "mean"])
def test_kdcl_matches_reference(ensemble):
    peers = [randn(11, 8, seed=50 + i, scale=2) for i in range(3)]
    y = labels_for(11, 8, seed=53)
    teacher = ref_kdcl_teacher([np64(z) for z in peers], y.numpy(), ensemble)
    assert np.allclose(kdcl_teacher(peers, y, ensemble=ensemble).numpy(), teacher, atol=1e-6)
    expected = sum(ref_kd(np64(z), teacher, 2.0) for z in peers)
    assert kdcl_loss(peers, y, ensemble=ensemble).item() == pytest.approx(expected, rel=1e-5)


def test_byot_matches_reference():
    logits = [randn(5, 6, seed=60 + i, scale=2) for i in range(3)]
    features = [randn(5, 4, 2, 2, seed=63 + i) for i in range(3)]
    expected = ref_byot([np64(z) for z in logits], [np64(f) for f in features], 3.0, 0.03)
    assert byot_loss(logits, features).item() == pytest.approx(expected, rel=1e-5)
    expected = ref_byot([np64(z) for z in logits], [np64(f) for f in features], 2.0, 0.5)
    assert byot_loss(logits, features, temperature=2.0, feature_weight=0.5).item() == pytest.approx(expected, rel=1e-5)


def test_cskd_matches_reference():
    z, paired = randn(7, 5, seed=70, scale=2), randn(7, 5, seed=71, scale=2)
    assert cskd_loss(z, paired).item() == pytest.approx(ref_kd(np64(z), np64(paired), 4.0), rel=1e-5)


# --- one case per loss, for the properties every loss shares ----------------------------------------
# Each case: (name, student-side inputs, teacher-side inputs, call). The call takes both lists in order.

CASES = {
    "kd": (lambda: [randn(6, 5, seed=80)], lambda: [randn(6, 5, seed=81)], lambda s, t: kd_loss(s[0], t[0])),
    "hint": (
        lambda: [randn(6, 3, 4, 4, seed=82)],
        lambda: [randn(6, 3, 4, 4, seed=83)],
        lambda s, t: hint_loss(s[0], t[0]),
    ),
    "attention": (
        lambda: [randn(6, 3, 8, 8, seed=84)],
        lambda: [randn(6, 5, 4, 4, seed=85)],
        lambda s, t: attention_loss(s[0], t[0]),
    ),
    "similarity": (
        lambda: [randn(6, 3, 4, 4, seed=86)],
        lambda: [randn(6, 7, seed=87)],
        lambda s, t: similarity_loss(s[0], t[0]),
    ),
    "rkd": (lambda: [randn(6, 5, seed=88)], lambda: [randn(6, 9, seed=89)], lambda s, t: rkd_loss(s[0], t[0])),
    "pkt": (lambda: [randn(6, 5, seed=90)], lambda: [randn(6, 9, seed=91)], lambda s, t: pkt_loss(s[0], t[0])),
    "cskd": (lambda: [randn(6, 5, seed=92)], lambda: [randn(6, 5, seed=93)], lambda s, t: cskd_loss(s[0], t[0])),
    "one": (
        lambda: [randn(6, 5, seed=94), randn(6, 5, seed=95)],
        lambda: [random_gate(6, 2, seed=96)],
        lambda s, t: one_loss(s, t[0]),
    ),
    "kdcl": (
        lambda: [randn(6, 5, seed=97), randn(6, 5, seed=98)],
        lambda: [],
        lambda s, t: kdcl_loss(s, labels_for(6, 5, seed=99)),
    ),
    "dml": (lambda: [randn(6, 5, seed=100), randn(6, 5, seed=101)], lambda: [], lambda s, t: dml_loss(s)),
    "byot": (
        lambda: [randn(6, 5, seed=102), randn(6, 4, seed=103)],
        lambda: [randn(6, 5, seed=104), randn(6, 4, seed=105)],
        lambda s, t: byot_loss([s[0], t[0]], [s[1], t[1]]),  # shallow exit = student side, deepest = teacher side
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_returns_a_finite_0dim_float32_tensor(name):
    student, teacher, call = CASES[name]
    value = call(student(), teacher())
    assert value.dim() == 0 and value.dtype == torch.float32 and torch.isfinite(value)
    assert value.item() > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_reaches_only_the_student_side(name):
    student, teacher, call = CASES[name]
    s = [x.requires_grad_() for x in student()]
    t = [x.requires_grad_() for x in teacher()]
    call(s, t).backward()
    for x in s:
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for x in t:
        assert x.grad is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_bf16_inputs_give_finite_values_close_to_fp32(name):
    student, teacher, call = CASES[name]
    s, t = student(), teacher()
    low = call([x.bfloat16() for x in s], [x.bfloat16() for x in t])
    # exact up to float32 rounding once the inputs are the same bf16 values: the loss computes in float32
    same_inputs = call([x.bfloat16().float() for x in s], [x.bfloat16().float() for x in t])
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert low.item() == pytest.approx(same_inputs.item(), rel=1e-5)
    assert low.item() == pytest.approx(call(s, t).item(), rel=5e-2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_autocast_bf16_does_not_lower_the_precision(name):
    student, teacher, call = CASES[name]
    s, t = student(), teacher()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = call(s, t)
    assert under_autocast.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(call(s, t).item(), rel=1e-6)


def test_bf16_extreme_logits_stay_finite():
    s = (randn(4, 100, seed=110) * 200).bfloat16()
    t = (randn(4, 100, seed=111) * 200).bfloat16()
    for value in (kd_loss(s, t, 1.0), dml_loss([s, t]), kdcl_loss([s, t], labels_for(4, 100, seed=112))):
        assert torch.isfinite(value)


# --- reductions --------------------------------------------------------------------------------------


BATCH_MEAN_CALLS = {
    "kd": lambda b: kd_loss(b["s"], b["t"]),
    "cskd": lambda b: cskd_loss(b["s"], b["t"]),
    "hint": lambda b: hint_loss(b["fs"], 2 * b["fs"]),
    "attention": lambda b: attention_loss(b["fs"], b["ft"]),
    "dml": lambda b: dml_loss([b["s"], b["t"], b["u"]]),
    "one": lambda b: one_loss([b["s"], b["t"], b["u"]], b["gate"]),
    "kdcl": lambda b: kdcl_loss([b["s"], b["t"], b["u"]], b["y"]),
    "byot": lambda b: byot_loss([b["s"], b["t"]], [b["fs"], 2 * b["fs"]]),
}


@pytest.mark.parametrize("name", sorted(BATCH_MEAN_CALLS))
def test_per_sample_losses_are_batch_means(name):
    # repeating the batch leaves a mean unchanged (a sum would double)
    batch = {
        "s": randn(5, 6, seed=120),
        "t": randn(5, 6, seed=121),
        "u": randn(5, 6, seed=122),
        "fs": randn(5, 3, 4, 4, seed=123),
        "ft": randn(5, 2, 8, 8, seed=124),
        "gate": random_gate(5, 3, seed=125),
        "y": labels_for(5, 6, seed=126),
    }
    call = BATCH_MEAN_CALLS[name]
    doubled = {key: torch.cat([value, value]) for key, value in batch.items()}
    assert call(doubled).item() == pytest.approx(call(batch).item(), rel=1e-5)


def test_relational_losses_average_over_all_entries():
    # RepDistiller's reductions: RKD and PKT are means over all (i, j) / (i, j, k) entries, SP is / N^2
    s, t = randn(4, 3, seed=130), randn(4, 5, seed=131)
    assert similarity_loss(s, t).item() == pytest.approx(ref_similarity(np64(s), np64(t)), rel=1e-5)
    assert pkt_loss(s, t).item() == pytest.approx(ref_pkt(np64(s), np64(t)), rel=1e-4)


def test_dml_gives_each_peer_only_its_own_term():
    z = [randn(6, 5, seed=140 + i).requires_grad_() for i in range(3)]
    dml_loss(z, 2.0).backward()
    own = [w.detach().clone().requires_grad_() for w in z]
    term = (kd_loss(own[0], own[1], 2.0) + kd_loss(own[0], own[2], 2.0)) / 2
    term.backward()
    assert torch.allclose(z[0].grad, own[0].grad, atol=1e-7)


# --- symmetric and zero cases ------------------------------------------------------------------------


def test_zero_when_student_equals_teacher():
    z, f, e = randn(6, 5, seed=150), randn(6, 3, 4, 4, seed=151), randn(6, 8, seed=152)
    y = labels_for(6, 5, seed=153)
    gate = random_gate(6, 3, seed=154)
    values = {
        "hint": hint_loss(f, f.clone()),
        "attention": attention_loss(f, f.clone()),
        "similarity": similarity_loss(f, f.clone()),
        "rkd": rkd_loss(e, e.clone()),
        "pkt": pkt_loss(e, e.clone()),
        "cskd": cskd_loss(z, z.clone()),
        "dml": dml_loss([z, z.clone(), z.clone()]),
        "one": one_loss([z, z.clone(), z.clone()], gate),
        "kdcl_mean": kdcl_loss([z, z.clone()], y, ensemble="mean"),
        # min-logit of identical peers is z shifted per row by z_y: the same softmax
        "kdcl_min_logit": kdcl_loss([z, z.clone()], y),
        "byot": byot_loss([z, z.clone()], [f, f.clone()]),
    }
    for name, value in values.items():
        assert value.item() == pytest.approx(0.0, abs=1e-6), name


def test_scale_invariances():
    # attention and similarity maps are normalised; RKD distances are divided by their mean; PKT uses cosines
    f, e = randn(6, 3, 4, 4, seed=160), randn(6, 8, seed=161)
    assert attention_loss(f, 3 * f).item() == pytest.approx(0.0, abs=1e-7)
    assert similarity_loss(f, 2.5 * f).item() == pytest.approx(0.0, abs=1e-7)
    assert rkd_loss(e, 4 * e).item() == pytest.approx(0.0, abs=1e-5)
    assert pkt_loss(e, 3 * e).item() == pytest.approx(0.0, abs=1e-7)


def test_rkd_is_invariant_to_rotation_and_translation():
    e = randn(7, 4, seed=170)
    q, _ = torch.linalg.qr(randn(4, 4, seed=171))
    assert rkd_loss(e, e @ q + 3.0).item() == pytest.approx(0.0, abs=1e-4)


def test_similarity_accepts_different_widths_with_the_same_gram():
    f = randn(5, 6, seed=180)
    assert similarity_loss(f, torch.cat([f, f], dim=1)).item() == pytest.approx(0.0, abs=1e-7)


def test_dml_is_symmetric_in_its_peers():
    a, b, c = (randn(6, 5, seed=190 + i) for i in range(3))
    assert dml_loss([a, b, c]).item() == pytest.approx(dml_loss([c, a, b]).item(), rel=1e-6)


def test_one_gate_and_teacher_receive_no_gradient_from_the_kd_term():
    branches = [randn(6, 5, seed=200 + i).requires_grad_() for i in range(2)]
    gate_logits = randn(6, 2, seed=202).requires_grad_()
    one_loss(branches, torch.softmax(gate_logits, dim=1)).backward()
    assert gate_logits.grad is None
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in branches)


def test_one_ensemble_is_not_detached():
    branches = [randn(6, 5, seed=210 + i).requires_grad_() for i in range(2)]
    gate_logits = randn(6, 2, seed=212).requires_grad_()
    one_ensemble(branches, torch.softmax(gate_logits, dim=1)).sum().backward()
    assert gate_logits.grad is not None and branches[0].grad is not None


def test_kdcl_teacher_is_detached():
    peers = [randn(6, 5, seed=220 + i).requires_grad_() for i in range(2)]
    assert not kdcl_teacher(peers, labels_for(6, 5, seed=222)).requires_grad


def test_byot_feature_term_has_the_given_weight():
    logits = [randn(4, 5, seed=230), randn(4, 5, seed=230)]  # equal logits: only the feature term remains
    features = [torch.ones(4, 3), torch.zeros(4, 3)]  # squared L2 distance 3 per sample
    assert byot_loss(logits, features, feature_weight=0.5).item() == pytest.approx(1.5, rel=1e-6)
    assert byot_loss(logits, features, feature_weight=0).item() == pytest.approx(0.0, abs=1e-7)


# --- input errors ------------------------------------------------------------------------------------

TEMPERATURE_CALLS = {
    "kd": lambda t: kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), t),
    "cskd": lambda t: cskd_loss(torch.zeros(2, 3), torch.zeros(2, 3), t),
    "dml": lambda t: dml_loss([torch.zeros(2, 3), torch.zeros(2, 3)], t),
    "one": lambda t: one_loss([torch.zeros(2, 3), torch.zeros(2, 3)], torch.full((2, 2), 0.5), t),
    "kdcl": lambda t: kdcl_loss([torch.zeros(2, 3), torch.zeros(2, 3)], torch.tensor([0, 1]), t),
    "byot": lambda t: byot_loss([torch.zeros(2, 3), torch.zeros(2, 3)], [torch.zeros(2, 4), torch.zeros(2, 4)], t),
}


@pytest.mark.parametrize("name", sorted(TEMPERATURE_CALLS))
@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_a_value_error(name, bad):
    with pytest.raises(ValueError, match="temperature"):
        TEMPERATURE_CALLS[name](bad)


@pytest.mark.parametrize("bad", ["4", None, True, torch.tensor(4.0)])
def test_non_numeric_temperature_is_a_type_error(bad):
    with pytest.raises(TypeError, match="temperature"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), bad)


def test_logit_shape_errors():
    with pytest.raises(ValueError, match="batch sizes differ"):
        kd_loss(torch.zeros(2, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="class counts differ"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="batch, classes"):
        kd_loss(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="non-empty batch"):
        kd_loss(torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(ValueError, match="class counts differ"):
        cskd_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"peer_logits\[2\]"):
        dml_loss([torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="at least 2"):
        dml_loss([torch.zeros(2, 3)])
    with pytest.raises(ValueError, match="at least 2"):
        kdcl_loss([torch.zeros(2, 3)], torch.tensor([0, 1]))


def test_type_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        kd_loss([[0.0, 1.0]], torch.zeros(1, 2))
    with pytest.raises(TypeError, match="floating-point"):
        kd_loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="sequence"):
        dml_loss(torch.zeros(2, 2, 3))
    with pytest.raises(TypeError, match="integer"):
        kdcl_loss([torch.zeros(2, 3), torch.zeros(2, 3)], torch.tensor([0.0, 1.0]))


def test_feature_shape_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        hint_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, 4))
    with pytest.raises(ValueError, match="batch sizes differ"):
        hint_loss(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="height, width"):
        attention_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="batch sizes differ"):
        attention_loss(torch.zeros(2, 3, 4, 4), torch.zeros(3, 3, 4, 4))
    with pytest.raises(ValueError, match="p must"):
        attention_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), p=0)
    with pytest.raises(ValueError, match="batch sizes differ"):
        similarity_loss(torch.zeros(2, 3), torch.zeros(3, 3))


def test_relation_shape_errors():
    with pytest.raises(ValueError, match="batch sizes differ"):
        rkd_loss(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        rkd_loss(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="batch sizes differ"):
        pkt_loss(torch.zeros(4, 3), torch.zeros(5, 3))


def test_online_argument_errors():
    z = [torch.zeros(2, 3), torch.zeros(2, 3)]
    with pytest.raises(ValueError, match=r"gate must have shape \(2, 2\)"):
        one_loss(z, torch.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="sum to 1"):
        one_ensemble(z, torch.ones(2, 2))
    with pytest.raises(ValueError, match="sum to 1"):
        one_ensemble(z, torch.tensor([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"lie in \[0, 2\]"):
        kdcl_loss(z, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        kdcl_loss(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="ensemble must be one of"):
        kdcl_teacher(z, torch.tensor([0, 1]), ensemble="max")


def test_byot_argument_errors():
    z = [torch.zeros(2, 3), torch.zeros(2, 3)]
    with pytest.raises(ValueError, match="one per exit"):
        byot_loss(z, [torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="deepest"):
        byot_loss(z, [torch.zeros(2, 5), torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="batch sizes differ"):
        byot_loss(z, [torch.zeros(3, 4), torch.zeros(3, 4)])
    with pytest.raises(ValueError, match="feature_weight"):
        byot_loss(z, [torch.zeros(2, 4), torch.zeros(2, 4)], feature_weight=-1.0)
    with pytest.raises(ValueError, match="at least 2"):
        byot_loss(z[:1], [torch.zeros(2, 4)])


# -- multi-teacher KD (added by the lead) ------------------------------------------------------


def test_multi_teacher_with_one_teacher_is_kd_loss():
    g = torch.Generator().manual_seed(11)
    s, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    from kdsurvey.distill.losses import kd_loss, multi_teacher_kd_loss

    assert torch.allclose(multi_teacher_kd_loss(s, [t], 3.0), kd_loss(s, t, 3.0), atol=1e-6)


def test_multi_teacher_averages_probabilities_not_logits():
    from kdsurvey.distill.losses import multi_teacher_kd_loss

    g = torch.Generator().manual_seed(12)
    s = torch.randn(4, 3, generator=g, dtype=torch.float64)
    t1, t2 = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    T = 2.0
    p = (np.exp(t1.numpy() / T) / np.exp(t1.numpy() / T).sum(1, keepdims=True)
         + np.exp(t2.numpy() / T) / np.exp(t2.numpy() / T).sum(1, keepdims=True)) / 2  # fmt: skip
    q = np.exp(s.numpy() / T) / np.exp(s.numpy() / T).sum(1, keepdims=True)
    expected = T * T * (p * np.log(p / q)).sum(1).mean()
    got = multi_teacher_kd_loss(s.float(), [t1.float(), t2.float()], T)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_multi_teacher_needs_matching_shapes():
    from kdsurvey.distill.losses import multi_teacher_kd_loss

    with pytest.raises(ValueError):
        multi_teacher_kd_loss(torch.zeros(2, 3), [torch.zeros(2, 3), torch.zeros(2, 4)])
