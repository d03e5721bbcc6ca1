"""Adafactor, LBFGS and Muon: torch.optim's (2.13) with its constructor arguments and defaults,
its state names and its update rules, as fastnn optimizers (``optimizers.Optimizer``: parameter
groups, ``maximize`` where torch has it, state_dict / load_state_dict, ``foreach`` accepted and
choosing nothing).

Like NAdam and the other array-code optimizers of ``optimizers``, the updates are array code on
the parameter's array module (NumPy or CuPy) in the parameter's dtype, operation by operation as
torch's single-tensor implementations, with torch's roundings (``_fma``, ``_lerp_``), so float32
results agree with torch's to rounding and float64 ones to ~1e-15. Details per optimizer:

- Adafactor factors the second moment of a parameter of 2 or more dimensions over its last two
  (``row_var``, ``col_var``; ``variance`` for 1-D ones); reductions are summed in
  float64 and rounded once to the parameter's dtype.
- LBFGS (``step(closure)``) keeps torch's global state on the first parameter; the scalars
  torch keeps as 0-d tensors (``ro``, ``H_diag``, the directional derivatives, ...) are NumPy
  scalars of the parameters' dtype, which NumPy 2 computes with in that dtype as torch does
  (NumPy 1 computes them in float64: the same algorithm, but float32 runs drift from torch's at
  rounding level).
- Muon orthogonalises in bfloat16 as torch does (``grad.bfloat16()``): every operation of the
  Newton-Schulz iteration is rounded to bfloat16 (emulated on float32 arrays, round to nearest
  even), its matrix products accumulated exactly and rounded to float32 before. Torch's bfloat16
  GEMM accumulates in float32 in its own (oneDNN's, CPU-dependent) order, so now and then one of
  its products rounds to the neighbouring bfloat16 value, and the difference spreads through the
  remaining iterations (in about one random matrix in ten up to 64 x 64 on an AVX-512 machine:
  up to 2% of the largest element of the update). fastnn follows exactly torch's Muon with exact
  products (see the tests); small matrices agree with the real one there.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _device
from .optimizers import Optimizer, _flag, _fma, _lerp_, _num, _pair

__all__ = ["Adafactor", "LBFGS", "Muon"]


def _int(name: str, value, low: int) -> int:
    """An int (not a bool) >= low, else fastnn's "Received:" error (TypeError / ValueError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int. Received: {name}={value!r}")
    if value < low:
        raise ValueError(f"Invalid {name} (must be >= {low}). Received: {name}={value!r}")
    return int(value)


def _norm(x, axis=None, keepdims=False):
    """The 2-norm of x (along axis) in x's dtype: squares summed in float64, rounded once (torch's
    norm of a float32 tensor is the float32 value, to rounding)."""
    xp = _device.xp_of(x)
    x64 = x.astype(xp.float64)
    return xp.sqrt(xp.sum(x64 * x64, axis=axis, keepdims=keepdims)).astype(x.dtype)


def _mean(x, axis, keepdims=True):
    xp = _device.xp_of(x)
    return (xp.sum(x.astype(xp.float64), axis=axis, keepdims=keepdims) / x.shape[axis]).astype(x.dtype)


# ---- Adafactor -----------------------------------------------------------------------------
class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018, https://arxiv.org/abs/1804.04235), torch's form: with
    ``t`` the step and ``G`` the gradient (negated with ``maximize``):
    ``beta2_t = 1 - t^beta2_decay``; ``rho_t = min(lr, 1/sqrt(t))``;
    ``alpha_t = max(eps2, RMS(p)) * rho_t``; ``p *= 1 - lr * weight_decay``; for a parameter of
    2+ dimensions the second moment is factored over its last two:
    ``R = beta2_t R + (1 - beta2_t) mean(G^2, -1)``, ``C = beta2_t C + (1 - beta2_t) mean(G^2, -2)``,
    ``V = R C / max(mean(R, -2), eps1)``; else ``V = beta2_t V + (1 - beta2_t) G^2``;
    ``U = G / max(sqrt(V), eps1)``; ``p -= alpha_t * U / max(1, RMS(U) / d)``.

    Args (torch's, in its order): ``lr`` (1e-2: the cap of the relative step size and the
    weight decay's factor), ``beta2_decay`` (-0.8, <= 0), ``eps`` ((eps1, eps2) = (None, 1e-3);
    eps1 None is the machine epsilon of the parameter's dtype), ``d`` (the clipping threshold,
    >= 1), ``weight_decay`` (0, decoupled); keyword-only ``foreach`` (chooses nothing) and
    ``maximize``. State, as torch's: ``step``, and ``row_var`` (shape ``(..., R, 1)``) and
    ``col_var`` (``(..., 1, C)``) for a parameter ``(..., R, C)``, ``variance`` for a 1-D one.

    (Torch's single-tensor code takes eps1 = None from the dtype of the first parameter of a
    group; fastnn from each parameter's: they differ only in a group mixing float32 and float64.)
    """

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8, eps=(None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None, maximize: bool = False):
        super().__init__(params, {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                                  "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize})

    def _validate(self, g):
        super()._validate(g)
        _num("beta2_decay", g["beta2_decay"], low=-math.inf, high=0.0)
        eps = _pair("eps", g["eps"], "(eps1 or None, eps2)")
        if eps[0] is not None:
            _num("eps1", eps[0])
        _num("eps2", eps[1])
        g["eps"] = tuple(eps)
        _num("d", g["d"], low=1.0)
        _num("weight_decay", g["weight_decay"])

    def _init_state(self, p, group):
        xp = _device.xp_of(p.data)
        if p.data.ndim > 1:
            return {"step": 0, "row_var": xp.zeros(p.shape[:-1] + (1,), dtype=p.dtype),
                    "col_var": xp.zeros(p.shape[:-2] + (1, p.shape[-1]), dtype=p.dtype)}
        return {"step": 0, "variance": _device.zeros_like(p.data)}

    def _slot_shape(self, p, key):
        if key == "row_var":
            return p.shape[:-1] + (1,)
        if key == "col_var":
            return p.shape[:-2] + (1, p.shape[-1])
        return p.shape

    def _update(self, p, state, g):
        xp, param, grad = _device.xp_of(p.data), p.data, self._grad(p, g)
        t = param.dtype.type
        eps1, eps2 = g["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param.dtype).eps)
        state["step"] += 1
        step = float(state["step"])
        if param.size == 0:  # (torch divides by the size)
            return
        lr, wd = g["lr"], g["weight_decay"]
        one_minus_beta2 = step ** g["beta2_decay"]
        rho = min(lr, 1.0 / step ** 0.5)
        alpha = max(eps2, float(_norm(param)) / param.size ** 0.5) * rho
        if wd != 0:
            param *= t(1.0 - lr * wd)
        if grad.ndim > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            row_norm = _norm(grad, axis=-1, keepdims=True)
            _lerp_(row_var, row_norm * row_norm / t(grad.shape[-1]), one_minus_beta2)
            col_norm = _norm(grad, axis=-2, keepdims=True)
            _lerp_(col_var, col_norm * col_norm / t(grad.shape[-2]), one_minus_beta2)
            var_estimate = row_var * col_var  # row_var @ col_var: (..., R, 1) @ (..., 1, C), one product each
            var_estimate /= xp.maximum(_mean(row_var, axis=-2), t(eps1))
        else:
            variance = state["variance"]
            _lerp_(variance, grad * grad, one_minus_beta2)
            var_estimate = variance.copy()
        update = t(1) / xp.sqrt(xp.maximum(var_estimate, t(eps1 * eps1)))  # torch's rsqrt is 1 / sqrt
        update *= grad
        denom = max(1.0, float(_norm(update)) / (update.size ** 0.5 * g["d"]))
        param[...] = _fma(update, t(-alpha / denom), param)


# ---- LBFGS ---------------------------------------------------------------------------------
class _LineSearchError(ValueError, RuntimeError):
    """An unknown ``line_search_fn``: a ValueError, as fastnn's invalid hyperparameters, and a
    RuntimeError, as torch's (raised there at the step)."""


def _scalar(x):
    """A reduction's result as a NumPy scalar of its dtype: what torch's LBFGS keeps as a 0-d
    tensor (CuPy's reductions give 0-d device arrays, brought to the host here)."""
    if isinstance(x, np.generic):
        return x
    return x.dtype.type(x.item())


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to bounds
    (default: [x1, x2]); their midpoint when the cubic has none (torch's, from minFunc's polyinterp)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length t along d satisfying the strong Wolfe conditions (sufficient decrease c1,
    curvature c2), by bracketing then zooming with cubic interpolation, in at most max_ls
    evaluations; returns (f, g, t, evaluations). Torch's ``_strong_wolfe`` (from minFunc's
    lswolfe), line by line."""
    xp = _device.xp_of(d)
    d_norm = _scalar(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = _scalar(g_new.dot(d))

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket = bracket_f = bracket_g = bracket_gtd = None
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _scalar(g_new.dot(d))
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # too close to an end of the bracket (twice in a row, or at it): 10% of its length inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _scalar(g_new.dot(d))
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: the new point is the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # the Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the low one
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """L-BFGS (Nocedal 1980; Liu & Nocedal 1989), torch's port of minFunc: each
    ``step(closure)`` runs up to ``max_iter`` iterations (and ``max_eval`` closure calls) of
    ``p += t * d`` along the direction ``d = -H g``, ``H`` the inverse Hessian estimated from the
    last ``history_size`` pairs (s = step taken, y = change of gradient; a pair with
    ``y.s <= 1e-10`` is not kept), by the two-loop recursion. The step length t is ``lr``
    (``min(1, 1/|g|_1) * lr`` on the very first iteration), or, with
    ``line_search_fn="strong_wolfe"``, found by a line search from it. The iterations stop early
    when ``max|g| <= tolerance_grad``, or when the step, the loss change or the directional
    derivative falls below ``tolerance_change``.

    ``closure``: user code that zeroes the gradients, runs forward and backward and returns the
    loss (a float, or anything ``float()`` takes); ``step`` returns its first result. As torch's,
    one parameter group only (ValueError otherwise), every parameter on one device; the state is
    global, kept on the first parameter, under torch's names: ``func_evals``, ``n_iter``, ``d``,
    ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``,
    ``al``. A parameter without a gradient counts as a zero gradient; a frozen one
    (``trainable=False``) too, and it is not moved.

    Args (torch's, in its order): ``lr`` (1), ``max_iter`` (20), ``max_eval`` (None: max_iter * 5 // 4),
    ``tolerance_grad`` (1e-7), ``tolerance_change`` (1e-9), ``history_size`` (100),
    ``line_search_fn`` (None or "strong_wolfe"; another value is refused at construction, with
    an error that is a ValueError and, as torch's at the step, a RuntimeError).
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None and isinstance(max_iter, numbers.Integral) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                  "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                                  "history_size": history_size, "line_search_fn": line_search_fn})
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, group: dict) -> None:
        if self.param_groups:  # (torch's constructor says this; its step asserts it)
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(group)

    def _validate(self, g):
        super()._validate(g)
        g["max_iter"] = _int("max_iter", g["max_iter"], 1)
        if g["max_eval"] is None:
            g["max_eval"] = g["max_iter"] * 5 // 4
        g["max_eval"] = _int("max_eval", g["max_eval"], 1)
        _num("tolerance_grad", g["tolerance_grad"])
        _num("tolerance_change", g["tolerance_change"])
        g["history_size"] = _int("history_size", g["history_size"], 1)
        if g["line_search_fn"] not in (None, "strong_wolfe"):
            raise _LineSearchError(f"only 'strong_wolfe' is supported (or None). "
                                   f"Received: line_search_fn={g['line_search_fn']!r}")

    def _slot_shape(self, p, key):
        if key in ("d", "prev_flat_grad", "old_dirs", "old_stps"):
            return (sum(q.size for q in self._params),)
        return p.shape

    # ---- the flat vector of all parameters ---------------------------------------------------
    def _common_device(self) -> str:
        devices = {p.device for p in self._params}
        if len(devices) > 1:
            raise TypeError(f"LBFGS needs every parameter on one device; they are on {sorted(devices)}: move the "
                            f"model with Module.to first")
        return devices.pop()

    def _gather_flat_grad(self):
        xp = _device.xp_of(self._params[0].data)
        views = [p.grad.reshape(-1) if p.trainable and p.has_grad else xp.zeros(p.size, dtype=p.dtype)
                 for p in self._params]
        return xp.concatenate(views)

    def _add_grad(self, step_size, update) -> None:
        """p += step_size * (p's part of update), for every trainable parameter (torch's add_ with alpha)."""
        offset = 0
        for p in self._params:
            part = update[offset:offset + p.size].reshape(p.shape)
            offset += p.size
            if not p.trainable:
                continue
            if part.dtype == p.dtype:
                p.data[...] = _fma(part, p.dtype.type(step_size), p.data)
            else:  # (a float32 parameter beside float64 ones: the flat vectors are float64)
                p.data[...] = p.data + part * step_size

    def _clone_param(self):
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, data in zip(self._params, params_data):
            p.data[...] = data

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    requires_closure = True  # fit passes its batch's closure to step

    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations (see the class); ``closure()`` zeroes the gradients,
        computes the loss and its gradients, and returns the loss. Returns its first result."""
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that recomputes the loss and the gradients")
        group = self.param_groups[0]
        self._validate(group)
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        first = self._params[0]
        device = self._common_device()
        state = self.state.setdefault(first, {})
        if self._state_device.get(first, device) != device:  # the model moved since the last step
            self._move_state(first, state)
        self._state_device[first] = device
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        xp = _device.xp_of(flat_grad)
        if flat_grad.size == 0:
            return orig_loss
        opt_cond = _scalar(xp.abs(flat_grad).max()) <= tolerance_grad
        if opt_cond:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _scalar(y.dot(s))
                if ys > 1e-10:  # keep the pair (the curvature condition holds)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _scalar(y.dot(y))  # the initial inverse Hessian's scale
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # the two-loop recursion: d = -H g
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = _scalar(old_stps[i].dot(q)) * ro[i]
                    q[...] = _fma(old_dirs[i], q.dtype.type(-al[i]), q)
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = _scalar(old_dirs[i].dot(r)) * ro[i]
                    r[...] = _fma(old_stps[i], r.dtype.type(al[i] - be_i), r)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ---- the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / _scalar(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = _scalar(flat_grad.dot(d))  # the directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:  # "strong_wolfe" (_validate)
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _scalar(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:  # (the last iteration's loss would go unused)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _scalar(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stop?
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _scalar(xp.abs(d * t).max()) <= tolerance_change:  # no progress in the parameters
                break
            if abs(loss - prev_loss) < tolerance_change:  # nor in the loss
                break

        state.update({"d": d, "t": t, "old_dirs": old_dirs, "old_stps": old_stps, "ro": ro, "H_diag": H_diag,
                      "prev_flat_grad": prev_flat_grad, "prev_loss": prev_loss})
        return orig_loss


# ---- Muon ----------------------------------------------------------------------------------
# Keller Jordan's coefficients and defaults (https://kellerjordan.github.io/posts/muon/), as torch's
_MUON_EPS = 1e-7
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_NS_STEPS = 5


def _round_bf16(x):
    """float32 array of x's values rounded to bfloat16 (to nearest, ties to even, as c10's
    conversion; NaN stays NaN). A float64 x goes through float32 first, as torch's conversion."""
    xp = _device.xp_of(x)
    x = xp.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    # (bits >> 16) & 1 is the lowest kept bit; adding 0x7FFF plus it rounds half to even, and
    # clearing the low 16 bits (by % here) truncates. Only NaNs can wrap around: put back below.
    high = np.uint32(1 << 16)
    rounded = bits + np.uint32(0x7FFF) + (bits // high) % np.uint32(2)
    rounded -= rounded % high
    return xp.where(xp.isnan(x), np.float32(np.nan), rounded.view(np.float32))


def _bf16_addmm(c, a, b, beta: float = 0.0, alpha: float = 1.0):
    """torch.addmm(c, a, b, beta=beta, alpha=alpha) (a @ b without c) of bfloat16 matrices held as
    float32 arrays: the product accumulated in float32 (here exactly, then rounded), times alpha
    in float32, plus beta * c with one rounding (as torch's CPU kernel), rounded to bfloat16."""
    xp = _device.xp_of(a)
    product = (a.astype(xp.float64) @ b.astype(xp.float64)).astype(xp.float32)
    if c is None:
        return _round_bf16(product)
    if alpha != 1.0:
        product *= xp.float32(alpha)
    total = float(np.float32(beta)) * c.astype(xp.float64) + product.astype(xp.float64)
    return _round_bf16(total.astype(xp.float32))


def _zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps: int, eps: float):
    """An approximately orthogonal matrix with grad's singular vectors (U S' V^T, S' ~ 1), by
    ns_steps quintic Newton-Schulz iterations ``X = a X + (b A + c A^2) X``, ``A = X X^T``, from
    ``X = grad / |grad|_F``, in bfloat16 as torch's (a float32 array of bfloat16 values)."""
    a, b, c = ns_coefficients
    xp = _device.xp_of(grad)
    x = _round_bf16(grad)
    tall = grad.shape[0] > grad.shape[1]
    if tall:
        x = x.T
    x64 = x.astype(xp.float64)
    norm = _round_bf16(xp.asarray(xp.sqrt(xp.sum(x64 * x64))))
    norm = _round_bf16(xp.maximum(norm, xp.float32(eps)))  # clamp(min=eps)
    x = _round_bf16(x / norm)
    for _ in range(ns_steps):
        gram = _bf16_addmm(None, x, x.T)
        gram_update = _bf16_addmm(gram, gram, gram, beta=b, alpha=c)
        x = _bf16_addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def _adjust_lr(lr: float, adjust_lr_fn: str | None, shape) -> float:
    """Muon's learning rate for a (A, B) matrix: ``lr * sqrt(max(1, A/B))`` ("original", the
    default: Keller Jordan's) or ``lr * 0.2 * sqrt(max(A, B))`` ("match_rms_adamw": Moonshot's,
    the update's RMS of AdamW's)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """Muon, MomentUm Orthogonalized by Newton-Schulz (Jordan et al. 2024,
    https://kellerjordan.github.io/posts/muon/; Liu et al. 2025, https://arxiv.org/abs/2502.16982),
    torch's form, for 2-D parameters only (hidden layers' weight matrices: optimise biases,
    embeddings and the rest with AdamW):
    ``B = momentum B + (1 - momentum) g``; ``U = g + momentum (B - g)`` (nesterov) or ``B``;
    ``O = NS(U)`` (``ns_steps`` Newton-Schulz iterations with ``ns_coefficients``, in bfloat16 as
    torch's); ``p *= 1 - lr * weight_decay``; ``p -= adjust(lr) * O``, adjust by ``adjust_lr_fn``
    (None or "original": ``sqrt(max(1, A/B))``; "match_rms_adamw": ``0.2 sqrt(max(A, B))``).

    Args (torch's, in its order, with its defaults): ``lr`` (1e-3), ``weight_decay`` (0.1),
    ``momentum`` (0.95), ``nesterov`` (True), ``ns_coefficients`` ((3.4445, -4.7750, 2.0315)),
    ``eps`` (1e-7, the floor of the Frobenius norm), ``ns_steps`` (5, below 100),
    ``adjust_lr_fn`` (None). A parameter that is not 2-D is a ValueError (torch's message), in a
    group added later too (torch finds that at the step). State, as torch's: ``momentum_buffer``.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients=_NS_COEFFICIENTS, eps: float = _MUON_EPS,
                 ns_steps: int = _NS_STEPS, adjust_lr_fn: str | None = None):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                                  "nesterov": nesterov, "ns_coefficients": ns_coefficients, "eps": eps,
                                  "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn})

    def _validate(self, g):
        super()._validate(g)
        _num("momentum", g["momentum"])
        _num("weight_decay", g["weight_decay"])
        if g["adjust_lr_fn"] is not None and g["adjust_lr_fn"] not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {g['adjust_lr_fn']} is not supported "
                             f"(None, 'original' or 'match_rms_adamw'). Received: adjust_lr_fn={g['adjust_lr_fn']!r}")
        g["nesterov"] = _flag("nesterov", g["nesterov"])
        coefficients = g["ns_coefficients"]
        if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3:
            raise ValueError(f"Coefficients must be a tuple of exactly 3 values (a, b, c). "
                             f"Received: ns_coefficients={coefficients!r}")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                   for v in coefficients):
            raise ValueError(f"ns_coefficients must be 3 finite numbers. Received: ns_coefficients={coefficients!r}")
        g["ns_coefficients"] = tuple(coefficients)
        _num("eps", g["eps"])
        g["ns_steps"] = _int("ns_steps", g["ns_steps"], 0)
        if g["ns_steps"] >= 100:  # (torch's words, at its step)
            raise ValueError(f"Number of steps must be less than 100 for computational efficiency. "
                             f"Received: ns_steps={g['ns_steps']!r}")
        for p in g["params"]:
            if p.data.ndim != 2:
                raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: "
                                 f"{tuple(p.shape)}")

    def _init_state(self, p, group):
        return {"momentum_buffer": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        param, grad = p.data, p.grad
        t = param.dtype.type
        lr, momentum = g["lr"], g["momentum"]
        buf = state["momentum_buffer"]
        _lerp_(buf, grad, 1.0 - momentum)
        if g["nesterov"]:
            update = grad.copy()
            _lerp_(update, buf, momentum)
        else:
            update = buf
        ortho = _zeropower_via_newtonschulz(update, g["ns_coefficients"], g["ns_steps"], g["eps"])
        adjusted_lr = _adjust_lr(lr, g["adjust_lr_fn"], param.shape)
        param *= t(1.0 - lr * g["weight_decay"])
        param[...] = _fma(ortho.astype(param.dtype), t(-adjusted_lr), param)

