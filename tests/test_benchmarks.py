"""The benchmark tooling runs and writes what it promises (not timings: those are
`make bench`'s job). Tiny sizes; the device script in its CPU dry-run mode."""

import json
import pathlib
import subprocess

import jax
import pytest

from bench import conv, memory, meta_gradient_cost, multitask
from helpers import assert_close_at_scale, mechanism_rule, synthetic_task_data, tiny_inner_config
from metaunsup import inner

REPO = pathlib.Path(__file__).resolve().parents[1]
DEVICE_SH = REPO / "bench" / "device.sh"


@pytest.mark.slow
def test_meta_gradient_programs_agree_on_the_loss():
  # The programs' plumbing (vmap, per-task gradients, the timer) is the same for every rule:
  # the mechanism rule, whose programs compile several times faster than the learned rule's.
  cfg = tiny_inner_config(rule=mechanism_rule())
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  data = jax.tree_util.tree_map(lambda a: a[None].repeat(2, 0), synthetic_task_data())
  states = jax.vmap(lambda k: inner.init_task(k, 10, cfg))(
    jax.random.split(jax.random.PRNGKey(1), 2)
  )
  grad, forward = meta_gradient_cost.programs((cfg,), k=2)
  per_task, _ = meta_gradient_cost.programs((cfg,), k=2, tasks_per_batch=1)
  (loss, g), plain = grad(theta, (states,), (data,)), forward(theta, (states,), (data,))
  assert abs(float(loss) - float(plain)) < 1e-6
  assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(theta)
  # The candidate (each task differentiated alone, gradients averaged) is the same gradient.
  loss_1, g_1 = per_task(theta, (states,), (data,))
  assert abs(float(loss_1) - float(plain)) < 1e-6
  # Two programs (one vmapped gradient; per-task gradients averaged) that sum in another
  # order: float32 rounding through 2 unrolled steps and their backward pass, relative to
  # each leaf's largest entry (seen: 7.8e-5 on AVX-512, 5.6e-5 with XLA held to SSE4.2; an
  # element-wise rtol of 1e-4 failed on an AVX-512 machine at 2e-4 on one entry near 1e-3);
  # a missing task or term would move whole leaves by O(1).
  assert_close_at_scale(g_1, g, rel=1e-3, err_msg="per-task vs vmapped meta-gradient")
  t = meta_gradient_cost.interleaved_seconds(
    {"forward": forward, "gradient": grad}, (theta, (states,), (data,)), repeats=1
  )
  assert t["ratio_to_forward"]["forward"] == 1.0 and t["seconds"]["gradient"] > 0


def test_device_script_parses():
  subprocess.run(["bash", "-n", str(DEVICE_SH)], check=True)


def test_device_script_refuses_without_a_gpu_in_one_line(tmp_path):
  # This CPU machine has no nvidia-smi, or one that lists no GPU: the script must stop
  # before installing anything. (Skipped in spirit where a GPU exists: it would install.)
  if subprocess.run(["bash", "-c", "nvidia-smi -L"], capture_output=True).returncode == 0:
    return
  r = subprocess.run(
    [str(DEVICE_SH), "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO
  )
  assert r.returncode == 1 and "no NVIDIA GPU" in r.stderr and "--dry-run" in r.stderr
  assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_multitask_sweep_writes_results_and_figure(tmp_path):
  details = multitask.main(
    [
      "--tasks",
      "1,2",
      "--loop-max",
      "1",
      "--inner-steps",
      "1",
      "--repeats",
      "1",
      "--out",
      str(tmp_path),
    ]
  )
  rows = json.loads((tmp_path / "multitask.json").read_text())["rows"]
  assert [r["tasks"] for r in rows] == [1, 2] == [r["tasks"] for r in details["rows"]]
  assert rows[0]["speedup"] > 0 and rows[1]["speedup"] is None  # loop only up to T = 1
  assert (tmp_path / "multitask.png").stat().st_size > 0
  assert "cpu" in (tmp_path / "multitask.md").read_text().lower()


def test_memory_bench_reports_a_failed_run_by_its_config_and_writes_its_table():
  # The measured runs are `make bench`'s (minutes each); a run that fails must say which
  # config, not be read as a peak of zero.
  with pytest.raises(RuntimeError, match="train_rule\\('no_such_config'\\) failed: Val") as e:
    memory.measure("no_such_config", 1)
  assert "\n" not in str(e.value) and "unknown config 'no_such_config'" in str(e.value)
  row = {"config": "smoke", "meta_steps": 2, "peak_rss_gib": 1.234, "seconds": 56.7}
  row.update(val_accuracy_first=0.3, val_accuracy_last=0.45, val_accuracy_random_init=0.31)
  row.update(fewshot_acc_rule=0.5, fewshot_acc_random_init=None)  # a summary without it
  table = memory.markdown({"rows": [row]})
  assert "| smoke | 2 | 1.23 | 57 | 0.300 -> 0.450 (0.310) | 0.500 vs — |" in table


def test_conv_bench_table_reads_its_details():
  # The measured run is `make bench`'s (its programs compile for minutes); the table it
  # writes must show each rule's two networks and their ratio.
  ms = {"krotov_hopfield:mlp": 0.5, "krotov_hopfield:conv": 6.4}
  details = dict(
    batch_size=64,
    image=[28, 28, 1],
    mlp_widths=[64, 64, 32],
    conv_layers=list(conv.CONV_LAYERS),
    ms_per_step=ms,
    us_per_example={n: 1e3 * v / 64 for n, v in ms.items()},
    conv_to_mlp_ratio={"krotov_hopfield": 12.8},
  )
  assert "| krotov_hopfield | 0.50 | 6.40 | 7.8 | 100.0 | 12.8x |" in conv.markdown(details)
  assert "Meta-step" not in conv.markdown(details)  # details from before the meta-step
  details["meta_step"] = dict(
    tasks=2,
    truncation=5,
    particles_per_task=2,
    ms_per_call={"mlp": 70.0, "conv": 4200.0},
    us_per_example={"mlp": 54.7, "conv": 3281.3},
    conv_to_mlp_ratio=60.0,
  )
  table = conv.markdown(details)
  assert "2 tasks x 2 particles x 5 scored steps" in table
  assert "| 70.0 | 4200.0 | 54.7 | 3281.3 | 60.0x |" in table
