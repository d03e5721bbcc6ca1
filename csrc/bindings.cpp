// The only file that includes pybind11. Each entry point checks dtype, rank, shape,
// C-contiguity and writability up front (never a silent cast or copy: a copy would lose
// in-place writes), raises ValueError/TypeError naming the bad value, then releases the GIL
// and calls a kernel in csrc/kernels/. Outputs are allocated by the caller (fastnn.ops).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/activations.h"
#include "kernels/block_cache.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/gemm_amx.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/losses.h"
#include "kernels/optim.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

namespace py = pybind11;
using fastnn::Act;

namespace {

// ---------------------------------------------------------------------------------------------
// Argument checks shared by every entry point.

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

enum class DType { f32, f64 };

DType float_dtype(const py::array& a, const char* name) {
  if (a.dtype().equal(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().equal(py::dtype::of<double>())) return DType::f64;
  throw py::type_error(std::string(name) + " must be a float32 or float64 array, got dtype " +
                       dtype_str(a));
}

void require_dtype(const py::array& a, const char* name, DType dt) {
  const bool ok = dt == DType::f32 ? a.dtype().equal(py::dtype::of<float>())
                                   : a.dtype().equal(py::dtype::of<double>());
  if (!ok)
    throw py::type_error(std::string(name) + " must have dtype " +
                         (dt == DType::f32 ? "float32" : "float64") + " like the other operands, got " +
                         dtype_str(a));
}

void require_c_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) +
                          " must be C-contiguous (fastnn.ops copies inputs explicitly; got strides "
                          "that are not row-major for shape " + shape_str(a) + ")");
}

void require_writable(const py::array& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be a writable array");
}

void require_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    throw py::value_error(std::string(bn) + " must have the shape of " + an + " " + shape_str(a) +
                          ", got " + shape_str(b));
}

void require_ndim(const py::array& a, const char* name, py::ssize_t ndim) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D, got " +
                          std::to_string(a.ndim()) + "-D array of shape " + shape_str(a));
}

// An input: float dtype matching `dt`, C-contiguous.
void check_in(const py::array& a, const char* name, DType dt) {
  require_dtype(a, name, dt);
  require_c_contiguous(a, name);
}
// An output: as an input, and writable.
void check_out(const py::array& a, const char* name, DType dt) {
  check_in(a, name, dt);
  require_writable(a, name);
}

template <typename T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// ---------------------------------------------------------------------------------------------
// Activations

Act parse_act(const std::string& name) {
  if (name == "step") return Act::step;
  if (name == "sigmoid") return Act::sigmoid;
  if (name == "tanh") return Act::tanh;
  if (name == "relu") return Act::relu;
  if (name == "leaky_relu") return Act::leaky_relu;
  if (name == "softplus") return Act::softplus;
  if (name == "swish") return Act::swish;
  if (name == "elu") return Act::elu;
  if (name == "gelu") return Act::gelu;
  throw py::value_error("unknown activation '" + name +
                        "'; expected one of: step, sigmoid, tanh, relu, leaky_relu, softplus, swish, elu, gelu");
}

// Bytes from the first to one past the last element of an array with non-negative strides.
int64_t byte_span(const py::array& x) {
  if (x.size() == 0) return 0;
  int64_t span = x.itemsize();
  for (py::ssize_t i = 0; i < x.ndim(); ++i) span += (x.shape(i) - 1) * x.strides(i);
  return span;
}

// True when the byte ranges of two arrays (non-negative strides) overlap.
bool overlaps(const py::array& x, const py::array& y) {
  const int64_t xs = byte_span(x), ys = byte_span(y);
  if (xs == 0 || ys == 0) return false;
  const char* x0 = static_cast<const char*>(x.data());
  const char* y0 = static_cast<const char*>(y.data());
  return x0 < y0 + ys && y0 < x0 + xs;
}

// Outputs may not share memory with inputs or with each other (a kernel writing one while it
// reads another would give wrong values, silently). exact_ok: an output that is exactly an
// input (same data, shape and strides) is allowed, for the element- and row-wise kernels that
// read each element before writing it (in-place use).
using ArgRef = std::pair<const py::array*, const char*>;

const py::array* opt(const std::optional<py::array>& a) { return a ? &*a : nullptr; }

bool same_view(const py::array& a, const py::array& b) {
  if (a.data() != b.data() || a.ndim() != b.ndim()) return false;
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i) || a.strides(i) != b.strides(i)) return false;
  return true;
}

void separate(std::initializer_list<ArgRef> outs, std::initializer_list<ArgRef> ins, bool exact_ok = false) {
  std::vector<ArgRef> done;
  for (const auto& [o, oname] : outs) {
    if (o == nullptr) continue;
    for (const auto& [i, iname] : ins)
      if (i != nullptr && overlaps(*o, *i) && !(exact_ok && same_view(*o, *i)))
        throw py::value_error(std::string(oname) + " shares memory with " + iname + " (partly, or as another view): "
                              "give the output its own array");
    for (const auto& [d, dname] : done)
      if (overlaps(*o, *d))
        throw py::value_error(std::string(oname) + " shares memory with " + dname + ": give each output its own array");
    done.emplace_back(o, oname);
  }
}

// The activation's parameters (beta, slope, alpha, threshold): finite; softplus's beta non-zero.
void check_act_params(Act act, double p0, double p1) {
  if (!std::isfinite(p0) || !std::isfinite(p1))
    throw py::value_error("activation parameters must be finite, got " + std::to_string(p0) + " and " +
                          std::to_string(p1));
  if (act == Act::softplus && p0 == 0.0) throw py::value_error("softplus: beta must be non-zero, got 0");
}

void activation_forward(const std::string& name, const py::array& x, py::array& out, double p0,
                        double p1) {
  const Act act = parse_act(name);
  check_act_params(act, p0, p1);
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(out, "out", dt);
  require_same_shape(x, "x", out, "out");
  separate({{&out, "out"}}, {{&x, "x"}}, true);
  const fastnn::ActParams p{p0, p1};
  const int64_t n = x.size();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::activation_forward<float>(act, cptr<float>(x), mptr<float>(out), n, p);
  else
    fastnn::activation_forward<double>(act, cptr<double>(x), mptr<double>(out), n, p);
}

void activation_backward(const std::string& name, const py::array& dy, const py::array& saved,
                         py::array& out, double p0, double p1) {
  const Act act = parse_act(name);
  check_act_params(act, p0, p1);
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_in(saved, "saved", dt);
  check_out(out, "out", dt);
  require_same_shape(dy, "dy", saved, "saved");
  require_same_shape(dy, "dy", out, "out");
  separate({{&out, "out"}}, {{&dy, "dy"}, {&saved, "saved"}}, true);
  const fastnn::ActParams p{p0, p1};
  const int64_t n = dy.size();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::activation_backward<float>(act, cptr<float>(dy), cptr<float>(saved), mptr<float>(out), n, p);
  else
    fastnn::activation_backward<double>(act, cptr<double>(dy), cptr<double>(saved), mptr<double>(out), n, p);
}

// (rows, cols) view of an array whose last axis is the softmax axis.
void rows_cols(const py::array& x, int64_t& rows, int64_t& cols) {
  if (x.ndim() < 1) throw py::value_error("softmax needs at least a 1-D array, got a 0-D array");
  cols = x.shape(x.ndim() - 1);
  rows = cols == 0 ? 0 : x.size() / cols;
}

void softmax_forward(const py::array& x, py::array& out, bool log) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(out, "out", dt);
  separate({{&out, "out"}}, {{&x, "x"}}, true);
  require_same_shape(x, "x", out, "out");
  int64_t rows, cols;
  rows_cols(x, rows, cols);
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::softmax_forward<float>(cptr<float>(x), mptr<float>(out), rows, cols, log);
  else
    fastnn::softmax_forward<double>(cptr<double>(x), mptr<double>(out), rows, cols, log);
}

void softmax_backward(const py::array& dy, const py::array& y, py::array& out, bool log) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_in(y, "y", dt);
  check_out(out, "out", dt);
  separate({{&out, "out"}}, {{&dy, "dy"}, {&y, "y"}}, true);
  require_same_shape(dy, "dy", y, "y");
  require_same_shape(dy, "dy", out, "out");
  int64_t rows, cols;
  rows_cols(dy, rows, cols);
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::softmax_backward<float>(cptr<float>(dy), cptr<float>(y), mptr<float>(out), rows, cols, log);
  else
    fastnn::softmax_backward<double>(cptr<double>(dy), cptr<double>(y), mptr<double>(out), rows, cols, log);
}

// ---------------------------------------------------------------------------------------------
// GEMM

// Leading dimension (elements between rows) of a 2-D GEMM operand read in place: rows may be
// spaced further apart than their length (a column slice of a bigger array) but the elements of
// a row must be adjacent. Anything else is refused, never copied here (fastnn.ops copies).
int64_t leading_dim(const py::array& x, const char* name) {
  const int64_t item = x.itemsize(), rows = x.shape(0), cols = x.shape(1);
  const int64_t s0 = x.strides(0), s1 = x.strides(1);
  if (x.size() == 0) return std::max<int64_t>(1, cols);  // nothing is read
  const bool inner_ok = cols <= 1 || s1 == item;
  const bool outer_ok = rows <= 1 || (s0 > 0 && s0 % item == 0 && s0 / item >= cols);
  if (!inner_ok || !outer_ok)
    throw py::value_error(std::string(name) + " must have adjacent elements along its rows and rows at a "
                          "positive stride (got strides (" + std::to_string(s0) + ", " + std::to_string(s1) +
                          ") bytes for shape " + shape_str(x) + "); fastnn.ops.gemm copies such inputs");
  return rows <= 1 ? std::max<int64_t>(1, cols) : s0 / item;
}

void gemm(const py::array& a, const py::array& b, py::array& out, bool trans_a, bool trans_b,
          double alpha, double beta, const std::optional<py::array>& bias, bool relu, bool tanh) {
  if (relu && tanh) throw py::value_error("gemm: relu and tanh are exclusive activations, got both");
  const DType dt = float_dtype(a, "a");
  require_dtype(a, "a", dt);
  require_dtype(b, "b", dt);
  check_out(out, "out", dt);
  require_ndim(a, "a", 2);
  require_ndim(b, "b", 2);
  require_ndim(out, "out", 2);
  const int64_t m = trans_a ? a.shape(1) : a.shape(0);
  const int64_t ka = trans_a ? a.shape(0) : a.shape(1);
  const int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (ka != kb)
    throw py::value_error("gemm: inner dimensions differ: op(a) is " + std::to_string(m) + "x" +
                          std::to_string(ka) + " (a " + shape_str(a) + (trans_a ? ", transposed" : "") +
                          ") but op(b) is " + std::to_string(kb) + "x" + std::to_string(n) + " (b " +
                          shape_str(b) + (trans_b ? ", transposed" : "") + ")");
  if (out.shape(0) != m || out.shape(1) != n)
    throw py::value_error("gemm: out must have shape (" + std::to_string(m) + ", " + std::to_string(n) +
                          "), got " + shape_str(out));
  const void* bias_ptr = nullptr;
  if (bias) {
    check_in(*bias, "bias", dt);
    if (bias->ndim() != 1 || bias->shape(0) != n)
      throw py::value_error("gemm: bias must have shape (" + std::to_string(n) + ",), got " +
                            shape_str(*bias));
    bias_ptr = bias->data();
  }
  // Leading dimensions of the stored arrays (row-major): the kernel reads op(a), op(b) in place.
  const int64_t lda = leading_dim(a, "a"), ldb = leading_dim(b, "b"), ldc = std::max<int64_t>(1, n);
  // out is written tile by tile while a, b and bias are still being read.
  if (overlaps(out, a) || overlaps(out, b) || (bias && overlaps(out, *bias)))
    throw py::value_error("gemm: out must not share memory with a, b or bias (got an out array of shape " +
                          shape_str(out) + " that overlaps an input)");
  const fastnn::GemmAct act = relu ? fastnn::GemmAct::relu : tanh ? fastnn::GemmAct::tanh : fastnn::GemmAct::none;
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::gemm<float>(trans_a, trans_b, m, n, ka, static_cast<float>(alpha), cptr<float>(a), lda,
                        cptr<float>(b), ldb, static_cast<float>(beta), mptr<float>(out), ldc,
                        static_cast<const float*>(bias_ptr), act);
  else
    fastnn::gemm<double>(trans_a, trans_b, m, n, ka, alpha, cptr<double>(a), lda, cptr<double>(b), ldb,
                         beta, mptr<double>(out), ldc, static_cast<const double*>(bias_ptr), act);
}

// ---------------------------------------------------------------------------------------------
// Batch norm, dropout, losses, optimizer updates (issue 4)

// (N, C) -> hw = 1; (N, C, H, W) -> hw = H * W.
void bn_dims(const py::array& x, int64_t& n, int64_t& c, int64_t& hw) {
  if (x.ndim() != 2 && x.ndim() != 4)
    throw py::value_error("batch norm needs x of shape (N, C) or (N, C, H, W), got shape " + shape_str(x));
  n = x.shape(0);
  c = x.shape(1);
  hw = x.ndim() == 4 ? x.shape(2) * x.shape(3) : 1;
}

// A per-channel (C,) vector: the dtype of x, C-contiguous, writable when `out`.
void check_channel_vec(const py::array& a, const char* name, DType dt, int64_t c, bool out) {
  if (out)
    check_out(a, name, dt);
  else
    check_in(a, name, dt);
  if (a.ndim() != 1 || a.shape(0) != c)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(c) + ",) (one value per "
                          "channel), got " + shape_str(a));
}

template <typename T>
const T* opt_cptr(const std::optional<py::array>& a) { return a ? static_cast<const T*>(a->data()) : nullptr; }
template <typename T>
T* opt_mptr(std::optional<py::array>& a) { return a ? static_cast<T*>(a->mutable_data()) : nullptr; }

void batch_norm_forward(const py::array& x, const std::optional<py::array>& gamma,
                        const std::optional<py::array>& beta, std::optional<py::array> running_mean,
                        std::optional<py::array> running_var, py::array& y, py::array& mean, py::array& invstd,
                        bool training, double momentum, double eps) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  int64_t n, c, hw;
  bn_dims(x, n, c, hw);
  check_out(y, "y", dt);
  separate({{&y, "y"}}, {{&x, "x"}}, true);
  separate({{&mean, "mean"}, {&invstd, "invstd"}, {opt(running_mean), "running_mean"}, {opt(running_var), "running_var"}},
           {{&x, "x"}, {&y, "y"}, {opt(gamma), "gamma"}, {opt(beta), "beta"}});
  require_same_shape(x, "x", y, "y");
  check_channel_vec(mean, "mean", dt, c, true);
  check_channel_vec(invstd, "invstd", dt, c, true);
  if (gamma) check_channel_vec(*gamma, "gamma", dt, c, false);
  if (beta) check_channel_vec(*beta, "beta", dt, c, false);
  if (running_mean) check_channel_vec(*running_mean, "running_mean", dt, c, training);
  if (running_var) check_channel_vec(*running_var, "running_var", dt, c, training);
  if (training && n * hw <= 1) {
    const std::string one_sample =
        n == 1 && hw == 1 ? ": a batch of one sample cannot be normalised (its variance is 0). If it is the last, "
                            "smaller batch of an epoch, drop it: fit(..., drop_last=True) or "
                            "DataLoader(..., drop_last=True); or use eval mode (running statistics)"
                          : "";
    throw py::value_error("batch norm in training needs more than one value per channel (N*H*W > 1), got x of "
                          "shape " + shape_str(x) + one_sample);
  }
  if (!training && (!running_mean || !running_var))
    throw py::value_error("batch norm in eval mode needs running_mean and running_var, got None");
  if (!(eps >= 0.0)) throw py::value_error("eps must be >= 0, got " + std::to_string(eps));
  py::gil_scoped_release nogil;
  if (dt == DType::f32) {
    if (training)
      fastnn::batch_norm_forward_train<float>(cptr<float>(x), opt_cptr<float>(gamma), opt_cptr<float>(beta),
                                              opt_mptr<float>(running_mean), opt_mptr<float>(running_var),
                                              mptr<float>(y), mptr<float>(mean), mptr<float>(invstd), n, c, hw,
                                              momentum, eps);
    else
      fastnn::batch_norm_forward_eval<float>(cptr<float>(x), opt_cptr<float>(gamma), opt_cptr<float>(beta),
                                             opt_cptr<float>(running_mean), opt_cptr<float>(running_var),
                                             mptr<float>(y), mptr<float>(mean), mptr<float>(invstd), n, c, hw, eps);
  } else {
    if (training)
      fastnn::batch_norm_forward_train<double>(cptr<double>(x), opt_cptr<double>(gamma), opt_cptr<double>(beta),
                                               opt_mptr<double>(running_mean), opt_mptr<double>(running_var),
                                               mptr<double>(y), mptr<double>(mean), mptr<double>(invstd), n, c,
                                               hw, momentum, eps);
    else
      fastnn::batch_norm_forward_eval<double>(cptr<double>(x), opt_cptr<double>(gamma), opt_cptr<double>(beta),
                                              opt_cptr<double>(running_mean), opt_cptr<double>(running_var),
                                              mptr<double>(y), mptr<double>(mean), mptr<double>(invstd), n, c, hw,
                                              eps);
  }
}

void batch_norm_backward(const py::array& dy, const py::array& x, const std::optional<py::array>& gamma,
                         const py::array& mean, const py::array& invstd, py::array& dx, py::array& dgamma,
                         py::array& dbeta, bool training) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_in(x, "x", dt);
  require_same_shape(dy, "dy", x, "x");
  int64_t n, c, hw;
  bn_dims(x, n, c, hw);
  check_out(dx, "dx", dt);
  separate({{&dx, "dx"}}, {{&dy, "dy"}, {&x, "x"}}, true);
  separate({{&dx, "dx"}, {&dgamma, "dgamma"}, {&dbeta, "dbeta"}}, {{&mean, "mean"}, {&invstd, "invstd"}, {opt(gamma), "gamma"}});
  require_same_shape(x, "x", dx, "dx");
  if (gamma) check_channel_vec(*gamma, "gamma", dt, c, false);
  check_channel_vec(mean, "mean", dt, c, false);
  check_channel_vec(invstd, "invstd", dt, c, false);
  check_channel_vec(dgamma, "dgamma", dt, c, true);
  check_channel_vec(dbeta, "dbeta", dt, c, true);
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::batch_norm_backward<float>(cptr<float>(dy), cptr<float>(x), opt_cptr<float>(gamma), cptr<float>(mean),
                                       cptr<float>(invstd), mptr<float>(dx), mptr<float>(dgamma),
                                       mptr<float>(dbeta), n, c, hw, training);
  else
    fastnn::batch_norm_backward<double>(cptr<double>(dy), cptr<double>(x), opt_cptr<double>(gamma),
                                        cptr<double>(mean), cptr<double>(invstd), mptr<double>(dx),
                                        mptr<double>(dgamma), mptr<double>(dbeta), n, c, hw, training);
}

void check_dropout_p(double p) {
  if (!(p >= 0.0 && p <= 1.0))
    throw py::value_error("dropout probability p must be in [0, 1], got " + std::to_string(p));
}

void check_mask(const py::array& mask, const char* name, bool out) {
  if (!mask.dtype().equal(py::dtype::of<uint8_t>()))
    throw py::type_error(std::string(name) + " must have dtype uint8, got " + dtype_str(mask));
  require_c_contiguous(mask, name);
  if (out) require_writable(mask, name);
}

void dropout_mask(py::array& mask, double p, uint64_t seed) {
  check_mask(mask, "mask", true);
  check_dropout_p(p);
  const int64_t n = mask.size();
  py::gil_scoped_release nogil;
  fastnn::dropout_mask(static_cast<uint8_t*>(mask.mutable_data()), n, p, seed);
}

void dropout_forward(const py::array& x, py::array& y, py::array& mask, double p, uint64_t seed) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(y, "y", dt);
  separate({{&y, "y"}}, {{&x, "x"}}, true);
  separate({{&mask, "mask"}}, {{&x, "x"}, {&y, "y"}});
  require_same_shape(x, "x", y, "y");
  check_mask(mask, "mask", true);
  require_same_shape(x, "x", mask, "mask");
  check_dropout_p(p);
  const int64_t n = x.size();
  uint8_t* m = static_cast<uint8_t*>(mask.mutable_data());
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::dropout_forward<float>(cptr<float>(x), mptr<float>(y), m, n, p, seed);
  else
    fastnn::dropout_forward<double>(cptr<double>(x), mptr<double>(y), m, n, p, seed);
}

void dropout_backward(const py::array& dy, const py::array& mask, py::array& dx, double p) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_mask(mask, "mask", false);
  require_same_shape(dy, "dy", mask, "mask");
  check_out(dx, "dx", dt);
  require_same_shape(dy, "dy", dx, "dx");
  separate({{&dx, "dx"}}, {{&dy, "dy"}}, true);
  separate({{&dx, "dx"}}, {{&mask, "mask"}});
  check_dropout_p(p);
  const int64_t n = dy.size();
  const uint8_t* m = static_cast<const uint8_t*>(mask.data());
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::dropout_backward<float>(cptr<float>(dy), m, mptr<float>(dx), n, p);
  else
    fastnn::dropout_backward<double>(cptr<double>(dy), m, mptr<double>(dx), n, p);
}

std::string value_str(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

double softmax_cross_entropy(const py::array& logits, const py::array& target, py::array& grad,
                             double label_smoothing) {
  const DType dt = float_dtype(logits, "logits");
  check_in(logits, "logits", dt);
  require_ndim(logits, "logits", 2);
  check_out(grad, "grad", dt);
  require_same_shape(logits, "logits", grad, "grad");
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw py::value_error("label_smoothing must be in [0, 1], got " + value_str(label_smoothing));
  const int64_t n = logits.shape(0), k = logits.shape(1);
  const bool labels = target.dtype().equal(py::dtype::of<int64_t>());
  if (labels) {
    require_c_contiguous(target, "target");
    if (target.ndim() != 1 || target.shape(0) != n)
      throw py::value_error("integer target must have shape (" + std::to_string(n) + ",), got " + shape_str(target));
    const int64_t* t = static_cast<const int64_t*>(target.data());
    const int64_t bad = fastnn::first_bad_label(t, n, k);
    if (bad >= 0)
      throw py::value_error("target label " + std::to_string(t[bad]) + " at index " + std::to_string(bad) +
                            " is outside [0, " + std::to_string(k) + ")");
  } else {
    if (target.dtype().kind() != 'f')
      throw py::type_error("target must be int64 class labels or float probabilities, got dtype " +
                           dtype_str(target));
    check_in(target, "target", dt);
    require_same_shape(logits, "logits", target, "target");
  }
  // The kernel reads a row of logits (and target) after writing grad's: no sharing, not even
  // an exact alias.
  separate({{&grad, "grad"}}, {{&logits, "logits"}, {&target, "target"}});
  py::gil_scoped_release nogil;
  if (labels) {
    const int64_t* t = static_cast<const int64_t*>(target.data());
    if (dt == DType::f32)
      return fastnn::softmax_cross_entropy_labels<float>(cptr<float>(logits), t, mptr<float>(grad), n, k,
                                                         label_smoothing);
    return fastnn::softmax_cross_entropy_labels<double>(cptr<double>(logits), t, mptr<double>(grad), n, k,
                                                        label_smoothing);
  }
  if (dt == DType::f32)
    return fastnn::softmax_cross_entropy_soft<float>(cptr<float>(logits), cptr<float>(target), mptr<float>(grad),
                                                     n, k, label_smoothing);
  return fastnn::softmax_cross_entropy_soft<double>(cptr<double>(logits), cptr<double>(target),
                                                    mptr<double>(grad), n, k, label_smoothing);
}

template <typename T>
void raise_if_outside(const py::array& a, const std::string& what, double lo, double hi) {
  const int64_t bad = fastnn::first_outside<T>(cptr<T>(a), a.size(), lo, hi);
  if (bad >= 0)
    throw py::value_error(what + ", got " + value_str(static_cast<double>(cptr<T>(a)[bad])) + " at flat index " +
                          std::to_string(bad));
}

// The first element below 0 (NaN is not: it passes), as a ValueError.
template <typename T>
void raise_if_negative(const py::array& a, const std::string& what) {
  const T* p = cptr<T>(a);
  const int64_t n = a.size();
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < T(0))
      throw py::value_error(what + ", got " + value_str(static_cast<double>(p[i])) + " at flat index " +
                            std::to_string(i));
}

double pointwise_loss(const std::string& name, const py::array& pred, const py::array& target, py::array& grad) {
  fastnn::PointLoss kind;
  if (name == "mse") kind = fastnn::PointLoss::mse;
  else if (name == "l1") kind = fastnn::PointLoss::l1;
  else if (name == "bce") kind = fastnn::PointLoss::bce;
  else if (name == "bce_with_logits") kind = fastnn::PointLoss::bce_with_logits;
  else throw py::value_error("unknown loss '" + name + "'; expected one of: mse, l1, bce, bce_with_logits");
  const DType dt = float_dtype(pred, "pred");
  check_in(pred, "pred", dt);
  check_in(target, "target", dt);
  require_same_shape(pred, "pred", target, "target");
  check_out(grad, "grad", dt);
  require_same_shape(pred, "pred", grad, "grad");
  if (kind == fastnn::PointLoss::bce) {
    // (PyTorch: "all elements of target should be between 0 and 1")
    if (dt == DType::f32) {
      raise_if_outside<float>(pred, "bce_loss: prob must lie in [0, 1]", 0.0, 1.0);
      raise_if_outside<float>(target, "bce_loss: target must lie in [0, 1]", 0.0, 1.0);
    } else {
      raise_if_outside<double>(pred, "bce_loss: prob must lie in [0, 1]", 0.0, 1.0);
      raise_if_outside<double>(target, "bce_loss: target must lie in [0, 1]", 0.0, 1.0);
    }
  }
  separate({{&grad, "grad"}}, {{&pred, "pred"}, {&target, "target"}});
  const int64_t n = pred.size();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    return fastnn::pointwise_loss<float>(kind, cptr<float>(pred), cptr<float>(target), mptr<float>(grad), n);
  return fastnn::pointwise_loss<double>(kind, cptr<double>(pred), cptr<double>(target), mptr<double>(grad), n);
}

double gaussian_nll_loss(const py::array& mean, const py::array& target, const py::array& var, py::array& dmean,
                         py::array& dvar, bool full, double eps) {
  const DType dt = float_dtype(mean, "mean");
  check_in(mean, "mean", dt);
  check_in(target, "target", dt);
  check_in(var, "var", dt);
  require_same_shape(mean, "mean", target, "target");
  require_same_shape(mean, "mean", var, "var");
  check_out(dmean, "dmean", dt);
  check_out(dvar, "dvar", dt);
  require_same_shape(mean, "mean", dmean, "dmean");
  require_same_shape(mean, "mean", dvar, "dvar");
  if (!(eps > 0.0)) throw py::value_error("eps must be > 0, got " + value_str(eps));
  // NaN is let through (PyTorch only rejects var < 0).
  if (dt == DType::f32) raise_if_negative<float>(var, "gaussian_nll_loss: var must be non-negative");
  else raise_if_negative<double>(var, "gaussian_nll_loss: var must be non-negative");
  separate({{&dmean, "dmean"}, {&dvar, "dvar"}}, {{&mean, "mean"}, {&target, "target"}, {&var, "var"}});
  const int64_t n = mean.size();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    return fastnn::gaussian_nll_loss<float>(cptr<float>(mean), cptr<float>(target), cptr<float>(var),
                                            mptr<float>(dmean), mptr<float>(dvar), n, full, eps);
  return fastnn::gaussian_nll_loss<double>(cptr<double>(mean), cptr<double>(target), cptr<double>(var),
                                           mptr<double>(dmean), mptr<double>(dvar), n, full, eps);
}

// Optimizer operands: float32 only (the update is in place: a cast would be a silent copy).
void check_f32_param(const py::array& a, const char* name, bool out) {
  if (!a.dtype().equal(py::dtype::of<float>()))
    throw py::type_error(std::string(name) + " must be a float32 array (the fused optimizer kernels update "
                         "float32 parameters in place), got dtype " + dtype_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous: it is updated in place, never through a "
                          "copy (got a non-contiguous array of shape " + shape_str(a) + ")");
  if (out) require_writable(a, name);
}

// A hyperparameter: finite and in [lo, hi] (hi excluded when hi_open), as fastnn.ops checks it;
// the bindings check it too, since they can be called directly.
double hyper(const char* name, double v, double lo, double hi = std::numeric_limits<double>::infinity(),
             bool hi_open = false) {
  const bool ok = std::isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::ostringstream msg;
    msg << name << " must be a finite number in [" << lo << ", ";
    if (std::isinf(hi)) msg << "inf)"; else msg << hi << (hi_open ? ")" : "]");
    msg << ", got " << v;
    throw py::value_error(msg.str());
  }
  return v;
}

// The state arrays are updated in place: none may share memory with the parameter or another
// (the gradient may be the parameter itself: each element is read before it is written).
void distinct_slots(const py::array& param, std::initializer_list<std::pair<const std::optional<py::array>*, const char*>> slots) {
  std::vector<std::pair<const py::array*, const char*>> seen{{&param, "param"}};
  for (const auto& [a, name] : slots) {
    if (!*a) continue;
    for (const auto& [b, bname] : seen)
      if (overlaps(**a, *b))
        throw py::value_error(std::string(name) + " shares memory with " + bname +
                              ": every state array is updated in place and must be its own array");
    seen.emplace_back(&**a, name);
  }
}

struct OptimArgs {
  float* param;
  const float* grad;
  int64_t n;
};

OptimArgs optim_args(py::array& param, const py::array& grad) {
  check_f32_param(param, "param", true);
  check_f32_param(grad, "grad", false);
  require_same_shape(param, "param", grad, "grad");
  return {mptr<float>(param), cptr<float>(grad), static_cast<int64_t>(param.size())};
}

float* slot(std::optional<py::array>& a, const py::array& param, const char* name, bool needed,
            const char* why) {
  if (!a) {
    if (needed) throw py::value_error(std::string(name) + " is needed " + why + ", got None");
    return nullptr;
  }
  check_f32_param(*a, name, true);
  require_same_shape(param, "param", *a, name);
  return mptr<float>(*a);
}

void sgd_update(py::array& param, const py::array& grad, std::optional<py::array> momentum_buf, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay, bool first_step) {
  const OptimArgs o = optim_args(param, grad);
  hyper("lr", lr, 0.0);
  hyper("momentum", momentum, 0.0);
  hyper("dampening", dampening, -std::numeric_limits<double>::infinity());
  hyper("weight_decay", weight_decay, 0.0);
  float* buf = slot(momentum_buf, param, "momentum_buf", momentum != 0.0, "when momentum != 0");
  distinct_slots(param, {{&momentum_buf, "momentum_buf"}});
  py::gil_scoped_release nogil;
  fastnn::sgd_update(o.param, o.grad, momentum != 0.0 ? buf : nullptr, o.n, lr, momentum, dampening, nesterov,
                     weight_decay, first_step);
}

void adagrad_update(py::array& param, const py::array& grad, std::optional<py::array> sum_sq, double clr,
                    double weight_decay, double eps) {
  const OptimArgs o = optim_args(param, grad);
  hyper("clr", clr, 0.0);
  hyper("weight_decay", weight_decay, 0.0);
  hyper("eps", eps, 0.0);
  float* ss = slot(sum_sq, param, "sum_sq", true, "by adagrad");
  distinct_slots(param, {{&sum_sq, "sum_sq"}});
  py::gil_scoped_release nogil;
  fastnn::adagrad_update(o.param, o.grad, ss, o.n, clr, weight_decay, eps);
}

void adadelta_update(py::array& param, const py::array& grad, std::optional<py::array> square_avg,
                     std::optional<py::array> acc_delta, double lr, double rho, double eps, double weight_decay) {
  const OptimArgs o = optim_args(param, grad);
  hyper("lr", lr, 0.0);
  hyper("rho", rho, 0.0, 1.0);
  hyper("eps", eps, 0.0);
  hyper("weight_decay", weight_decay, 0.0);
  float* sa = slot(square_avg, param, "square_avg", true, "by adadelta");
  float* ad = slot(acc_delta, param, "acc_delta", true, "by adadelta");
  distinct_slots(param, {{&square_avg, "square_avg"}, {&acc_delta, "acc_delta"}});
  py::gil_scoped_release nogil;
  fastnn::adadelta_update(o.param, o.grad, sa, ad, o.n, lr, rho, eps, weight_decay);
}

void rmsprop_update(py::array& param, const py::array& grad, std::optional<py::array> square_avg,
                    std::optional<py::array> momentum_buf, std::optional<py::array> grad_avg, double lr,
                    double alpha, double eps, double weight_decay, double momentum, bool centered) {
  const OptimArgs o = optim_args(param, grad);
  hyper("lr", lr, 0.0);
  hyper("alpha", alpha, 0.0);
  hyper("eps", eps, 0.0);
  hyper("weight_decay", weight_decay, 0.0);
  hyper("momentum", momentum, 0.0);
  distinct_slots(param, {{&square_avg, "square_avg"}, {&momentum_buf, "momentum_buf"}, {&grad_avg, "grad_avg"}});
  float* sa = slot(square_avg, param, "square_avg", true, "by rmsprop");
  float* buf = slot(momentum_buf, param, "momentum_buf", momentum > 0.0, "when momentum > 0");
  float* ga = slot(grad_avg, param, "grad_avg", centered, "when centered=True");
  py::gil_scoped_release nogil;
  fastnn::rmsprop_update(o.param, o.grad, sa, buf, ga, o.n, lr, alpha, eps, weight_decay, momentum, centered);
}

void adam_update(py::array& param, const py::array& grad, std::optional<py::array> exp_avg,
                 std::optional<py::array> exp_avg_sq, int64_t step, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, std::optional<py::array> max_exp_avg_sq) {
  const OptimArgs o = optim_args(param, grad);
  hyper("lr", lr, 0.0);
  hyper("beta1", beta1, 0.0, 1.0, true);
  hyper("beta2", beta2, 0.0, 1.0, true);
  hyper("eps", eps, 0.0);
  hyper("weight_decay", weight_decay, 0.0);
  float* m = slot(exp_avg, param, "exp_avg", true, "by adam");
  float* v = slot(exp_avg_sq, param, "exp_avg_sq", true, "by adam");
  float* vmax = slot(max_exp_avg_sq, param, "max_exp_avg_sq", false, "for amsgrad");
  distinct_slots(param, {{&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"}, {&max_exp_avg_sq, "max_exp_avg_sq"}});
  if (step < 1) throw py::value_error("step must be >= 1 (it counts this step), got " + std::to_string(step));
  py::gil_scoped_release nogil;
  fastnn::adam_update(o.param, o.grad, m, v, vmax, o.n, step, lr, beta1, beta2, eps, weight_decay, decoupled);
}

void radam_update(py::array& param, const py::array& grad, std::optional<py::array> exp_avg,
                  std::optional<py::array> exp_avg_sq, int64_t step, double lr, double beta1, double beta2,
                  double eps, double weight_decay) {
  const OptimArgs o = optim_args(param, grad);
  hyper("lr", lr, 0.0);
  hyper("beta1", beta1, 0.0, 1.0, true);
  hyper("beta2", beta2, 0.0, 1.0, true);
  hyper("eps", eps, 0.0);
  hyper("weight_decay", weight_decay, 0.0);
  float* m = slot(exp_avg, param, "exp_avg", true, "by radam");
  float* v = slot(exp_avg_sq, param, "exp_avg_sq", true, "by radam");
  distinct_slots(param, {{&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"}});
  if (step < 1) throw py::value_error("step must be >= 1 (it counts this step), got " + std::to_string(step));
  py::gil_scoped_release nogil;
  fastnn::radam_update(o.param, o.grad, m, v, o.n, step, lr, beta1, beta2, eps, weight_decay);
}

// ---------------------------------------------------------------------------------------------
// Configuration

void set_isa(const std::string& name) {
  try {
    fastnn::set_isa(fastnn::parse_isa(name));
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

// More threads than this is never useful and can make OpenMP's thread creation fail, which
// libgomp answers by ending the process.
constexpr int kMaxThreads = 1024;

void set_num_threads(int n) {
  if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
  if (n > kMaxThreads)
    throw py::value_error("num_threads must be at most " + std::to_string(kMaxThreads) + ", got " +
                          std::to_string(n));
  fastnn::set_num_threads(n);
}

py::dict build_info() {
  py::dict d;
  d["version"] = FASTNN_VERSION;
  d["compiler"] = FASTNN_COMPILER;
#if defined(FASTNN_X86)
  d["isas_compiled"] = std::vector<std::string>{"generic", "avx2", "avx512"};
#else
  d["isas_compiled"] = std::vector<std::string>{"generic"};
#endif
#if defined(_OPENMP)
  d["openmp"] = _OPENMP;
#else
  d["openmp"] = 0;
#endif
  return d;
}

// ---------------------------------------------------------------------------------------------
// Output arrays from the block cache (kernels/block_cache.h): fastnn.ops allocates its large
// results here, so a training loop reuses the same memory every step instead of page-faulting
// fresh memory in. The array owns its block through a capsule that gives it back when NumPy
// frees the array.

py::array cached_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
  // Plain numbers only: an object (or object-holding record) dtype would hand NumPy
  // uninitialised PyObject pointers.
  const char kind = dtype.kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw py::type_error("empty: dtype " + std::string(py::str(dtype)) +
                         " is not supported (bool, integer or floating dtypes only)");
  size_t count = 1;
  for (const py::ssize_t s : shape) {
    if (s < 0) throw py::value_error("empty: negative dimension " + std::to_string(s) + " in shape");
    if (s != 0 && count > SIZE_MAX / static_cast<size_t>(s))
      throw py::value_error("empty: shape too large");
    count *= static_cast<size_t>(s);
  }
  const size_t itemsize = static_cast<size_t>(dtype.itemsize());
  if (itemsize != 0 && count > SIZE_MAX / itemsize) throw py::value_error("empty: shape too large");
  struct Block {
    void* ptr;
    size_t capacity;
  };
  auto* block = new Block{nullptr, 0};
  try {
    block->ptr = fastnn::block_cache::acquire(count * itemsize, &block->capacity);
  } catch (const std::bad_alloc&) {
    delete block;
    throw;
  }
  py::capsule owner(block, [](void* p) {
    auto* b = static_cast<Block*>(p);
    fastnn::block_cache::release(b->ptr, b->capacity);
    delete b;
  });
  return py::array(dtype, shape, std::vector<py::ssize_t>{}, block->ptr, owner);
}

py::dict cache_stats() {
  const fastnn::BlockCacheStats s = fastnn::block_cache::stats();
  py::dict d;
  d["cached_bytes"] = s.cached_bytes;
  d["limit_bytes"] = s.limit_bytes;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["min_block_bytes"] = fastnn::block_cache::kMinBytes;
  return d;
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling (NCHW). fastnn.ops normalises int-or-pair arguments to (h, w) pairs
// and allocates outputs; everything is re-checked here, because the kernels trust their sizes.

using Pair = std::pair<int64_t, int64_t>;

std::string pair_str(const Pair& p) {
  return "(" + std::to_string(p.first) + ", " + std::to_string(p.second) + ")";
}

void check_window(const Pair& kernel, const Pair& stride, const Pair& padding) {
  if (kernel.first < 1 || kernel.second < 1)
    throw py::value_error("kernel_size must be >= 1, got " + pair_str(kernel));
  if (stride.first < 1 || stride.second < 1)
    throw py::value_error("stride must be >= 1, got " + pair_str(stride));
  if (padding.first < 0 || padding.second < 0)
    throw py::value_error("padding must be >= 0, got " + pair_str(padding));
}

// The geometry of a window of `kernel` sliding over the 4-D array x (N, C, H, W).
fastnn::ConvGeom window_geom(const py::array& x, const char* name, const Pair& kernel, const Pair& stride,
                             const Pair& padding) {
  require_ndim(x, name, 4);
  check_window(kernel, stride, padding);
  fastnn::ConvGeom g{};
  g.n = x.shape(0), g.c = x.shape(1), g.h = x.shape(2), g.w = x.shape(3);
  g.kh = kernel.first, g.kw = kernel.second, g.sh = stride.first, g.sw = stride.second;
  g.ph = padding.first, g.pw = padding.second;
  // Every size derived below must fit in int64 (the kernels' index type): a padding near 2^62,
  // or output planes whose product wraps, would otherwise pass the shape checks as small or
  // zero sizes and let a kernel write past its buffers.
  const int64_t big = std::numeric_limits<int64_t>::max();
  if (g.ph > (big - g.h) / 2 || g.pw > (big - g.w) / 2)
    throw py::value_error("padding " + pair_str(padding) + " is too large for " + std::string(name) + " " +
                          shape_str(x) + ": the padded size overflows int64");
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    throw py::value_error("kernel_size " + pair_str(kernel) + " is larger than the padded input: " +
                          std::string(name) + " " + shape_str(x) + " with padding " + pair_str(padding) +
                          " is " + pair_str({g.h + 2 * g.ph, g.w + 2 * g.pw}));
  g.oh = fastnn::conv_output_size(g.h, g.kh, g.sh, g.ph);
  g.ow = fastnn::conv_output_size(g.w, g.kw, g.sw, g.pw);
  int64_t plane = 0, rows = 0, per_sample = 0, total = 0;
  if (__builtin_mul_overflow(g.oh, g.ow, &plane) || __builtin_mul_overflow(g.kh, g.kw, &rows) ||
      __builtin_mul_overflow(rows, g.c, &rows) || __builtin_mul_overflow(rows, plane, &per_sample) ||
      __builtin_mul_overflow(per_sample, g.n, &total))
    throw py::value_error("kernel_size " + pair_str(kernel) + ", stride " + pair_str(stride) + " and padding " +
                          pair_str(padding) + " on " + std::string(name) + " " + shape_str(x) +
                          " give an output (or column matrix) of more than 2^63 elements");
  return g;
}

void require_shape(const py::array& a, const char* name, const std::vector<int64_t>& shape) {
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; same && i < shape.size(); ++i) same = a.shape(i) == shape[i];
  if (!same) {
    std::ostringstream want;
    want << "(";
    for (size_t i = 0; i < shape.size(); ++i) want << (i ? ", " : "") << shape[i];
    want << (shape.size() == 1 ? ",)" : ")");
    throw py::value_error(std::string(name) + " must have shape " + want.str() + ", got " + shape_str(a));
  }
}

void im2col(const py::array& x, py::array& cols, const Pair& kernel_size, const Pair& stride,
            const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(cols, "cols", dt);
  separate({{&cols, "cols"}}, {{&x, "x"}});
  const fastnn::ConvGeom g = window_geom(x, "x", kernel_size, stride, padding);
  const int64_t p = g.oh * g.ow;
  require_shape(cols, "cols", {g.n, g.rows(), p});
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::im2col<float>(cptr<float>(x), mptr<float>(cols), g, g.rows() * p, p);
  else
    fastnn::im2col<double>(cptr<double>(x), mptr<double>(cols), g, g.rows() * p, p);
}

void col2im(const py::array& cols, py::array& x, const Pair& kernel_size, const Pair& stride,
            const Pair& padding) {
  const DType dt = float_dtype(cols, "cols");
  check_in(cols, "cols", dt);
  check_out(x, "x", dt);
  separate({{&x, "x"}}, {{&cols, "cols"}});
  const fastnn::ConvGeom g = window_geom(x, "x", kernel_size, stride, padding);
  const int64_t p = g.oh * g.ow;
  require_shape(cols, "cols", {g.n, g.rows(), p});
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::col2im<float>(cptr<float>(cols), mptr<float>(x), g, g.rows() * p, p);
  else
    fastnn::col2im<double>(cptr<double>(cols), mptr<double>(x), g, g.rows() * p, p);
}

// x (N, C, H, W) and w (OC, C, KH, KW): the convolution's geometry, checks included.
fastnn::ConvGeom conv_geom(const py::array& x, const py::array& w, const Pair& stride, const Pair& padding) {
  require_ndim(x, "x", 4);
  require_ndim(w, "w", 4);
  if (x.shape(1) != w.shape(1))
    throw py::value_error("x has " + std::to_string(x.shape(1)) + " channels but w " + shape_str(w) +
                          " expects " + std::to_string(w.shape(1)) + " (w is (OC, C, KH, KW))");
  return window_geom(x, "x", {w.shape(2), w.shape(3)}, stride, padding);
}

void check_bias(const std::optional<py::array>& b, const char* name, DType dt, int64_t channels) {
  if (!b) return;
  check_in(*b, name, dt);
  require_shape(*b, name, {channels});
}

void conv2d_forward(const py::array& x, const py::array& w, const std::optional<py::array>& b, py::array& y,
                    const Pair& stride, const Pair& padding, std::optional<py::array>& cols) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_in(w, "w", dt);
  check_out(y, "y", dt);
  separate({{&y, "y"}, {opt(cols), "cols"}}, {{&x, "x"}, {&w, "w"}, {opt(b), "b"}});
  const fastnn::ConvGeom g = conv_geom(x, w, stride, padding);
  const int64_t oc = w.shape(0);
  check_bias(b, "b", dt, oc);
  require_shape(y, "y", {g.n, oc, g.oh, g.ow});
  void* cols_ptr = nullptr;
  if (cols) {
    if (g.is_pointwise())
      throw py::value_error("cols: a 1x1 convolution with stride 1 and no padding has no column matrix "
                            "(x is used directly); pass cols=None");
    check_out(*cols, "cols", dt);
    require_shape(*cols, "cols", {g.rows(), g.n * g.oh * g.ow});
    cols_ptr = cols->mutable_data();
  }
  const void* b_ptr = b ? b->data() : nullptr;
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::conv2d_forward<float>(cptr<float>(x), cptr<float>(w), static_cast<const float*>(b_ptr),
                                  mptr<float>(y), oc, g, static_cast<float*>(cols_ptr));
  else
    fastnn::conv2d_forward<double>(cptr<double>(x), cptr<double>(w), static_cast<const double*>(b_ptr),
                                   mptr<double>(y), oc, g, static_cast<double*>(cols_ptr));
}

void conv2d_backward(const py::array& dy, const py::array& x, const py::array& w, std::optional<py::array>& dx,
                     py::array& dw, std::optional<py::array>& db, const Pair& stride, const Pair& padding,
                     const std::optional<py::array>& cols) {
  const DType dt = float_dtype(x, "x");
  separate({{opt(dx), "dx"}, {&dw, "dw"}, {opt(db), "db"}}, {{&dy, "dy"}, {&x, "x"}, {&w, "w"}, {opt(cols), "cols"}});
  check_in(dy, "dy", dt);
  check_in(x, "x", dt);
  check_in(w, "w", dt);
  check_out(dw, "dw", dt);
  const fastnn::ConvGeom g = conv_geom(x, w, stride, padding);
  const int64_t oc = w.shape(0);
  require_shape(dy, "dy", {g.n, oc, g.oh, g.ow});
  require_same_shape(w, "w", dw, "dw");
  void* dx_ptr = nullptr;
  void* db_ptr = nullptr;
  const void* cols_ptr = nullptr;
  if (dx) {
    check_out(*dx, "dx", dt);
    require_same_shape(x, "x", *dx, "dx");
    dx_ptr = dx->mutable_data();
  }
  if (db) {
    check_out(*db, "db", dt);
    require_shape(*db, "db", {oc});
    db_ptr = db->mutable_data();
  }
  if (cols && !g.is_pointwise()) {
    check_in(*cols, "cols", dt);
    require_shape(*cols, "cols", {g.rows(), g.n * g.oh * g.ow});
    cols_ptr = cols->data();
  }
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::conv2d_backward<float>(cptr<float>(dy), cptr<float>(x), cptr<float>(w), static_cast<float*>(dx_ptr),
                                   mptr<float>(dw), static_cast<float*>(db_ptr), oc, g,
                                   static_cast<const float*>(cols_ptr));
  else
    fastnn::conv2d_backward<double>(cptr<double>(dy), cptr<double>(x), cptr<double>(w),
                                    static_cast<double*>(dx_ptr), mptr<double>(dw), static_cast<double*>(db_ptr),
                                    oc, g, static_cast<const double*>(cols_ptr));
}

// Which algorithm conv2d_forward / conv2d_backward use for these operands (and the test knobs).
std::string conv2d_algorithm(const py::array& x, const py::array& w, const Pair& stride, const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_in(w, "w", dt);
  const fastnn::ConvGeom g = conv_geom(x, w, stride, padding);
  return fastnn::conv_algo_name(
      fastnn::conv2d_algorithm(g, w.shape(0), dt == DType::f32 ? sizeof(float) : sizeof(double)));
}

void set_conv2d_algorithm(const std::string& name) {
  if (name == "auto")
    fastnn::set_conv2d_algorithm(fastnn::ConvAlgo::automatic);
  else if (name == "im2col")
    fastnn::set_conv2d_algorithm(fastnn::ConvAlgo::im2col);
  else if (name == "winograd")
    fastnn::set_conv2d_algorithm(fastnn::ConvAlgo::winograd);
  else
    throw py::value_error("conv2d algorithm must be 'auto', 'im2col' or 'winograd', got '" + name + "'");
}

void set_gemm_b_in_place(const std::string& name) {
  if (name == "auto")
    fastnn::set_gemm_b_in_place(fastnn::GemmBInPlace::automatic);
  else if (name == "never")
    fastnn::set_gemm_b_in_place(fastnn::GemmBInPlace::never);
  else if (name == "allowed")
    fastnn::set_gemm_b_in_place(fastnn::GemmBInPlace::allowed);
  else
    throw py::value_error("gemm B-in-place mode must be 'auto', 'never' or 'allowed', got '" + name + "'");
}

py::dict conv2d_algorithm_calls() {
  py::dict d;
  for (auto a : {fastnn::ConvAlgo::pointwise, fastnn::ConvAlgo::im2col, fastnn::ConvAlgo::winograd})
    d[fastnn::conv_algo_name(a)] = fastnn::conv2d_algorithm_calls(a);
  return d;
}

// Transposed convolution x (N, C_in, H, W), w (C_in, C_out, KH, KW) -> y (N, C_out, OH, OW): the
// geometry of the convolution that maps y's shape back to x's, after checking that y's shape is
// (H - 1) * S - 2P + K + output_padding with 0 <= output_padding < S.
fastnn::ConvGeom conv_transpose_geom(const py::array& x, const py::array& w, const py::array& y,
                                     const char* y_name, const Pair& stride, const Pair& padding) {
  require_ndim(x, "x", 4);
  require_ndim(w, "w", 4);
  require_ndim(y, y_name, 4);
  if (x.shape(1) != w.shape(0))
    throw py::value_error("x has " + std::to_string(x.shape(1)) + " channels but the transposed-conv weight w " +
                          shape_str(w) + " (C_in, C_out, KH, KW) expects " + std::to_string(w.shape(0)));
  check_window({w.shape(2), w.shape(3)}, stride, padding);
  const int64_t h = x.shape(2), wd = x.shape(3);
  if (h < 1 || wd < 1)
    throw py::value_error("transposed convolution needs H, W >= 1, got x " + shape_str(x));
  const int64_t base_h = (h - 1) * stride.first - 2 * padding.first + w.shape(2);
  const int64_t base_w = (wd - 1) * stride.second - 2 * padding.second + w.shape(3);
  const int64_t oph = y.shape(2) - base_h, opw = y.shape(3) - base_w;
  if (y.shape(0) != x.shape(0) || y.shape(1) != w.shape(1) || oph < 0 || oph >= stride.first || opw < 0 ||
      opw >= stride.second || y.shape(2) < 1 || y.shape(3) < 1)
    throw py::value_error(std::string(y_name) + " has shape " + shape_str(y) + "; a transposed convolution of x " +
                          shape_str(x) + " by w " + shape_str(w) + " with stride " + pair_str(stride) +
                          " and padding " + pair_str(padding) + " gives (N, C_out, " + std::to_string(base_h) +
                          " + oph, " + std::to_string(base_w) + " + opw) with 0 <= output_padding < stride");
  fastnn::ConvGeom g = window_geom(y, y_name, {w.shape(2), w.shape(3)}, stride, padding);
  if (g.oh != h || g.ow != wd)  // cannot happen after the checks above; the kernels rely on it
    throw py::value_error("internal: transposed convolution geometry mismatch");
  return g;
}

void conv_transpose2d_forward(const py::array& x, const py::array& w, const std::optional<py::array>& b,
                              py::array& y, const Pair& stride, const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_in(w, "w", dt);
  check_out(y, "y", dt);
  separate({{&y, "y"}}, {{&x, "x"}, {&w, "w"}, {opt(b), "b"}});
  const fastnn::ConvGeom g = conv_transpose_geom(x, w, y, "y", stride, padding);
  check_bias(b, "b", dt, w.shape(1));
  const int64_t c_in = x.shape(1);
  const void* b_ptr = b ? b->data() : nullptr;
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::conv_transpose2d_forward<float>(cptr<float>(x), cptr<float>(w), static_cast<const float*>(b_ptr),
                                            mptr<float>(y), c_in, g);
  else
    fastnn::conv_transpose2d_forward<double>(cptr<double>(x), cptr<double>(w), static_cast<const double*>(b_ptr),
                                             mptr<double>(y), c_in, g);
}

void conv_transpose2d_backward(const py::array& dy, const py::array& x, const py::array& w,
                               std::optional<py::array>& dx, py::array& dw, std::optional<py::array>& db,
                               const Pair& stride, const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  separate({{opt(dx), "dx"}, {&dw, "dw"}, {opt(db), "db"}}, {{&dy, "dy"}, {&x, "x"}, {&w, "w"}});
  check_in(dy, "dy", dt);
  check_in(x, "x", dt);
  check_in(w, "w", dt);
  check_out(dw, "dw", dt);
  const fastnn::ConvGeom g = conv_transpose_geom(x, w, dy, "dy", stride, padding);
  require_same_shape(w, "w", dw, "dw");
  const int64_t c_in = x.shape(1);
  void* dx_ptr = nullptr;
  void* db_ptr = nullptr;
  if (dx) {
    check_out(*dx, "dx", dt);
    require_same_shape(x, "x", *dx, "dx");
    dx_ptr = dx->mutable_data();
  }
  if (db) {
    check_out(*db, "db", dt);
    require_shape(*db, "db", {w.shape(1)});
    db_ptr = db->mutable_data();
  }
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::conv_transpose2d_backward<float>(cptr<float>(dy), cptr<float>(x), cptr<float>(w),
                                             static_cast<float*>(dx_ptr), mptr<float>(dw),
                                             static_cast<float*>(db_ptr), c_in, g);
  else
    fastnn::conv_transpose2d_backward<double>(cptr<double>(dy), cptr<double>(x), cptr<double>(w),
                                              static_cast<double*>(dx_ptr), mptr<double>(dw),
                                              static_cast<double*>(db_ptr), c_in, g);
}

fastnn::PoolGeom pool_geom(const py::array& x, const char* name, const Pair& kernel, const Pair& stride,
                           const Pair& padding) {
  const fastnn::ConvGeom c = window_geom(x, name, kernel, stride, padding);
  if (padding.first > kernel.first / 2 || padding.second > kernel.second / 2)
    throw py::value_error("padding must be at most half the kernel size: got padding " + pair_str(padding) +
                          " for kernel_size " + pair_str(kernel));
  if (c.h < 1 || c.w < 1)
    throw py::value_error(std::string("pooling needs non-empty spatial dimensions, got ") + name + " " +
                          shape_str(x));
  if (c.kh > INT32_MAX / c.kw)  // the max-pool kernel records window offsets in 32 bits (kh * kw might wrap)
    throw py::value_error("pooling kernel_size " + pair_str(kernel) + " has more than 2^31 - 1 elements");
  return fastnn::PoolGeom{c.n * c.c, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.oh, c.ow};
}

void max_pool2d_forward(const py::array& x, py::array& y, py::array& indices, const Pair& kernel_size,
                        const Pair& stride, const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(y, "y", dt);
  separate({{&y, "y"}, {&indices, "indices"}}, {{&x, "x"}});
  const fastnn::PoolGeom g = pool_geom(x, "x", kernel_size, stride, padding);
  require_shape(y, "y", {x.shape(0), x.shape(1), g.oh, g.ow});
  if (!indices.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("indices must have dtype int64, got " + dtype_str(indices));
  require_c_contiguous(indices, "indices");
  require_writable(indices, "indices");
  require_same_shape(y, "y", indices, "indices");
  int64_t* ip = static_cast<int64_t*>(indices.mutable_data());
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::max_pool2d_forward<float>(cptr<float>(x), mptr<float>(y), ip, g);
  else
    fastnn::max_pool2d_forward<double>(cptr<double>(x), mptr<double>(y), ip, g);
}

void max_pool2d_backward(const py::array& dy, const py::array& indices, py::array& dx) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_out(dx, "dx", dt);
  separate({{&dx, "dx"}}, {{&dy, "dy"}, {&indices, "indices"}});
  if (!indices.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("indices must have dtype int64, got " + dtype_str(indices));
  require_c_contiguous(indices, "indices");
  require_ndim(dy, "dy", 4);
  require_ndim(dx, "dx", 4);
  require_same_shape(dy, "dy", indices, "indices");
  if (dx.shape(0) != dy.shape(0) || dx.shape(1) != dy.shape(1))
    throw py::value_error("dx " + shape_str(dx) + " and dy " + shape_str(dy) + " must agree in N and C");
  const int64_t planes = dy.shape(0) * dy.shape(1);
  const int64_t in_plane = dx.shape(2) * dx.shape(3), out_plane = dy.shape(2) * dy.shape(3);
  const int64_t* ip = static_cast<const int64_t*>(indices.data());
  int64_t bad = 0;
  bool ok;
  {
    py::gil_scoped_release nogil;
    if (dt == DType::f32)
      ok = fastnn::max_pool2d_backward<float>(cptr<float>(dy), ip, mptr<float>(dx), planes, in_plane, out_plane, &bad);
    else
      ok = fastnn::max_pool2d_backward<double>(cptr<double>(dy), ip, mptr<double>(dx), planes, in_plane, out_plane,
                                               &bad);
  }
  if (!ok)
    throw py::value_error("indices must lie in [0, H*W) = [0, " + std::to_string(in_plane) + ") for dx " +
                          shape_str(dx) + ", got " + std::to_string(bad));
}

void avg_pool2d_forward(const py::array& x, py::array& y, const Pair& kernel_size, const Pair& stride,
                        const Pair& padding, bool count_include_pad) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  separate({{&y, "y"}}, {{&x, "x"}});
  check_out(y, "y", dt);
  const fastnn::PoolGeom g = pool_geom(x, "x", kernel_size, stride, padding);
  require_shape(y, "y", {x.shape(0), x.shape(1), g.oh, g.ow});
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::avg_pool2d_forward<float>(cptr<float>(x), mptr<float>(y), g, count_include_pad);
  else
    fastnn::avg_pool2d_forward<double>(cptr<double>(x), mptr<double>(y), g, count_include_pad);
}

void avg_pool2d_backward(const py::array& dy, py::array& dx, const Pair& kernel_size, const Pair& stride,
                         const Pair& padding, bool count_include_pad) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  separate({{&dx, "dx"}}, {{&dy, "dy"}});
  check_out(dx, "dx", dt);
  const fastnn::PoolGeom g = pool_geom(dx, "dx", kernel_size, stride, padding);
  require_shape(dy, "dy", {dx.shape(0), dx.shape(1), g.oh, g.ow});
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::avg_pool2d_backward<float>(cptr<float>(dy), mptr<float>(dx), g, count_include_pad);
  else
    fastnn::avg_pool2d_backward<double>(cptr<double>(dy), mptr<double>(dx), g, count_include_pad);
}

void global_avg_pool2d_forward(const py::array& x, py::array& y) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(y, "y", dt);
  separate({{&y, "y"}}, {{&x, "x"}});
  require_ndim(x, "x", 4);
  if (x.shape(2) < 1 || x.shape(3) < 1)
    throw py::value_error("global_avg_pool2d needs non-empty spatial dimensions, got x " + shape_str(x));
  require_shape(y, "y", {x.shape(0), x.shape(1)});
  const int64_t planes = x.shape(0) * x.shape(1), plane = x.shape(2) * x.shape(3);
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::global_avg_pool2d_forward<float>(cptr<float>(x), mptr<float>(y), planes, plane);
  else
    fastnn::global_avg_pool2d_forward<double>(cptr<double>(x), mptr<double>(y), planes, plane);
}

void global_avg_pool2d_backward(const py::array& dy, py::array& dx) {
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_out(dx, "dx", dt);
  separate({{&dx, "dx"}}, {{&dy, "dy"}});
  require_ndim(dx, "dx", 4);
  if (dx.shape(2) < 1 || dx.shape(3) < 1)
    throw py::value_error("global_avg_pool2d needs non-empty spatial dimensions, got dx " + shape_str(dx));
  require_shape(dy, "dy", {dx.shape(0), dx.shape(1)});
  const int64_t planes = dx.shape(0) * dx.shape(1), plane = dx.shape(2) * dx.shape(3);
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::global_avg_pool2d_backward<float>(cptr<float>(dy), mptr<float>(dx), planes, plane);
  else
    fastnn::global_avg_pool2d_backward<double>(cptr<double>(dy), mptr<double>(dx), planes, plane);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastnn native kernels (private; use fastnn.ops)";
  const auto nc = [](const char* name) { return py::arg(name).noconvert(); };

  // Configuration
  m.def("build_info", &build_info, "Version, compiler, compiled ISAs and OpenMP version.");
  m.def("detected_isa", [] { return std::string(fastnn::isa_name(fastnn::detected_isa())); },
        "The best ISA this CPU supports.");
  m.def("get_isa", [] { return std::string(fastnn::isa_name(fastnn::current_isa())); },
        "The ISA kernels use now.");
  m.def("set_isa", &set_isa, py::arg("name"), "Use 'generic', 'avx2' or 'avx512' kernels (at most the detected ISA).");
  m.def("amx_available", &fastnn::amx_available, "Whether this CPU and OS run AMX-BF16 (and the build has it).");
  m.def("gemm_amx_enabled", &fastnn::gemm_amx_enabled,
        "Whether float32 GEMMs run on AMX tiles now (available, ISA avx512, not turned off).");
  m.def("set_gemm_amx", &fastnn::set_gemm_amx, py::arg("on"),
        "Turn the AMX float32 GEMM on (where available) or off (the AVX-512 float32 kernel).");
  m.def("gemm_amx_calls", [] { return fastnn::amx::calls(); }, "float32 GEMMs computed on AMX so far (for tests).");
  m.def("get_num_threads", &fastnn::get_num_threads, "Threads kernels use.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the threads kernels use (n >= 1).");
  m.def("max_hardware_threads", &fastnn::max_hardware_threads, "Logical CPUs available.");

  // Memory
  m.def("empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
        "An uninitialised C-contiguous array whose memory comes from (and returns to) the block cache.");
  m.def("cache_stats", &cache_stats, "Block cache: cached_bytes, limit_bytes, hits, misses, min_block_bytes.");
  m.def("cache_clear", [] { fastnn::block_cache::clear(); }, "Free every cached block.");
  m.def("cache_set_limit", [](py::ssize_t bytes) {
    if (bytes < 0) throw py::value_error("cache limit must be >= 0 bytes, got " + std::to_string(bytes));
    fastnn::block_cache::set_limit(static_cast<size_t>(bytes));
  }, py::arg("bytes"), "Keep at most this many bytes of freed blocks (0 disables the cache).");

  // Activations
  m.def("activation_forward", &activation_forward, py::arg("name"), nc("x"), nc("out"),
        py::arg("p0") = 1.0, py::arg("p1") = 20.0, "out = act(x), element-wise.");
  m.def("activation_backward", &activation_backward, py::arg("name"), nc("dy"), nc("saved"), nc("out"),
        py::arg("p0") = 1.0, py::arg("p1") = 20.0,
        "out = dL/dx; saved is y for sigmoid/tanh, x otherwise.");
  m.def("softmax_forward", &softmax_forward, nc("x"), nc("out"), py::arg("log") = false,
        "Softmax (or log-softmax) over the last axis.");
  m.def("softmax_backward", &softmax_backward, nc("dy"), nc("y"), nc("out"), py::arg("log") = false,
        "Backward of softmax (or log-softmax) over the last axis, from its output y.");

  // GEMM
  m.def("gemm", &gemm, nc("a"), nc("b"), nc("out"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("bias") = py::none(), py::arg("relu") = false, py::arg("tanh") = false,
        "out = alpha * op(a) @ op(b) + beta * out (+ bias per row), then ReLU if relu, tanh if tanh.");
  m.def("fma_peak_gflops", [](bool f64, double seconds) {
          if (!(seconds > 0.0 && seconds <= 10.0))
            throw py::value_error("seconds must be in (0, 10], got " + std::to_string(seconds));
          py::gil_scoped_release nogil;
          return fastnn::fma_peak_gflops(f64, seconds);
        }, py::arg("f64") = false, py::arg("seconds") = 0.05,
        "Measured peak GFLOP/s of one core with the current ISA's vectors (FMA = 2 flops); the GEMM "
        "benchmarks' 100 %. For 'generic' it times scalar multiply-adds (a lower bound).");
  // Batch norm, dropout, losses, optimizer updates (issue 4)
  const auto opt = [](const char* name) { return py::arg(name).noconvert() = py::none(); };
  m.def("batch_norm_forward", &batch_norm_forward, nc("x"), nc("gamma"), nc("beta"), nc("running_mean"),
        nc("running_var"), nc("y"), nc("mean"), nc("invstd"), py::arg("training"), py::arg("momentum") = 0.1,
        py::arg("eps") = 1e-5,
        "Batch norm over channel axis 1; training updates running_mean/var in place; writes y, mean, invstd.");
  m.def("batch_norm_backward", &batch_norm_backward, nc("dy"), nc("x"), nc("gamma"), nc("mean"), nc("invstd"),
        nc("dx"), nc("dgamma"), nc("dbeta"), py::arg("training") = true, "Batch norm backward: writes dx, dgamma, dbeta.");
  m.def("dropout_mask", &dropout_mask, nc("mask"), py::arg("p"), py::arg("seed"),
        "Fill a uint8 mask with the counter-based keep bits of (seed, flat index).");
  m.def("dropout_forward", &dropout_forward, nc("x"), nc("y"), nc("mask"), py::arg("p"), py::arg("seed"),
        "Inverted dropout: writes mask and y = x * mask / (1 - p).");
  m.def("dropout_backward", &dropout_backward, nc("dy"), nc("mask"), nc("dx"), py::arg("p"),
        "dx = dy * mask / (1 - p).");
  m.def("softmax_cross_entropy", &softmax_cross_entropy, nc("logits"), nc("target"), nc("grad"),
        py::arg("label_smoothing") = 0.0, "Mean softmax cross-entropy (int64 labels or float probabilities); writes grad.");
  m.def("pointwise_loss", &pointwise_loss, py::arg("name"), nc("pred"), nc("target"), nc("grad"),
        "Mean mse / l1 / bce / bce_with_logits loss; writes grad.");
  m.def("gaussian_nll_loss", &gaussian_nll_loss, nc("mean"), nc("target"), nc("var"), nc("dmean"), nc("dvar"),
        py::arg("full") = false, py::arg("eps") = 1e-6, "Mean Gaussian NLL; writes dmean, dvar.");
  m.def("sgd_update", &sgd_update, nc("param"), nc("grad"), nc("momentum_buf"), py::arg("lr"),
        py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("nesterov") = false,
        py::arg("weight_decay") = 0.0, py::arg("first_step") = false, "SGD step in place (float32).");
  m.def("adagrad_update", &adagrad_update, nc("param"), nc("grad"), nc("sum_sq"), py::arg("clr"),
        py::arg("weight_decay") = 0.0, py::arg("eps") = 1e-10, "Adagrad step in place (float32); clr is the decayed lr.");
  m.def("adadelta_update", &adadelta_update, nc("param"), nc("grad"), nc("square_avg"), nc("acc_delta"),
        py::arg("lr") = 1.0, py::arg("rho") = 0.9, py::arg("eps") = 1e-6, py::arg("weight_decay") = 0.0,
        "Adadelta step in place (float32).");
  m.def("rmsprop_update", &rmsprop_update, nc("param"), nc("grad"), nc("square_avg"), opt("momentum_buf"),
        opt("grad_avg"), py::arg("lr") = 0.01, py::arg("alpha") = 0.99, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("centered") = false,
        "RMSprop step in place (float32).");
  m.def("adam_update", &adam_update, nc("param"), nc("grad"), nc("exp_avg"), nc("exp_avg_sq"), py::arg("step"),
        py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, py::arg("decoupled") = false, opt("max_exp_avg_sq"),
        "Adam / AdamW step in place (float32); max_exp_avg_sq (AMSGrad's running maximum of exp_avg_sq) "
        "makes it AMSGrad.");
  m.def("radam_update", &radam_update, nc("param"), nc("grad"), nc("exp_avg"), nc("exp_avg_sq"), py::arg("step"),
        py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, "RAdam step in place (float32).");

  // Convolution and pooling (stride, padding, kernel_size are (h, w) pairs; outputs preallocated)
  m.def("im2col", &im2col, nc("x"), nc("cols"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        "cols (N, C*KH*KW, OH*OW) = the patches of x (N, C, H, W).");
  m.def("col2im", &col2im, nc("cols"), nc("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        "x (N, C, H, W) = the adjoint of im2col: patches summed back (x overwritten).");
  m.def("conv2d_forward", &conv2d_forward, nc("x"), nc("w"), py::arg("b").noconvert().none(true), nc("y"),
        py::arg("stride"), py::arg("padding"), py::arg("cols").noconvert().none(true) = py::none(),
        "y = conv2d(x, w) + b; cols (C*KH*KW, N*OH*OW), if given, keeps the column matrix.");
  m.def("conv2d_backward", &conv2d_backward, nc("dy"), nc("x"), nc("w"), py::arg("dx").noconvert().none(true),
        nc("dw"), py::arg("db").noconvert().none(true), py::arg("stride"), py::arg("padding"),
        py::arg("cols").noconvert().none(true) = py::none(),
        "Gradients of conv2d_forward into dx (or None), dw, db (or None); cols from the forward if kept.");
  m.def("conv2d_algorithm", &conv2d_algorithm, nc("x"), nc("w"), py::arg("stride"), py::arg("padding"),
        "The algorithm conv2d_forward/backward use for x, w (their dtype and the ISA in use): "
        "'pointwise', 'im2col' or 'winograd'.");
  m.def("set_conv2d_algorithm", &set_conv2d_algorithm, py::arg("name"),
        "For tests and benchmarks: 'im2col' or 'winograd' (3x3 stride-1 only) forces that algorithm "
        "for every conv2d call in the process; 'auto' restores the normal choice.");
  m.def("set_gemm_b_in_place", &set_gemm_b_in_place, py::arg("mode"),
        "For tests and benchmarks: whether gemm may read a row-major B in place instead of packing "
        "it where the shape allows: 'allowed' (whatever the CPU), 'never', or 'auto' (the choice "
        "measured for this CPU). Results are the same bits in every mode.");
  m.def("conv2d_algorithm_calls", &conv2d_algorithm_calls,
        "How many conv2d_forward/backward calls ran each algorithm: {'pointwise', 'im2col', 'winograd'}.");
  m.def("conv_transpose2d_forward", &conv_transpose2d_forward, nc("x"), nc("w"), py::arg("b").noconvert().none(true),
        nc("y"), py::arg("stride"), py::arg("padding"),
        "y = conv_transpose2d(x, w) + b; y's shape fixes output_padding.");
  m.def("conv_transpose2d_backward", &conv_transpose2d_backward, nc("dy"), nc("x"), nc("w"),
        py::arg("dx").noconvert().none(true), nc("dw"), py::arg("db").noconvert().none(true), py::arg("stride"),
        py::arg("padding"), "Gradients of conv_transpose2d_forward into dx (or None), dw, db (or None).");
  m.def("max_pool2d_forward", &max_pool2d_forward, nc("x"), nc("y"), nc("indices"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), "y = window max, indices = int64 argmax h*W + w in the plane.");
  m.def("max_pool2d_backward", &max_pool2d_backward, nc("dy"), nc("indices"), nc("dx"),
        "dx = dy scattered to the argmax positions (dx overwritten).");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, nc("x"), nc("y"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), "y = window average.");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, nc("dy"), nc("dx"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), "dx = gradient of avg_pool2d_forward (overwritten).");
  m.def("global_avg_pool2d_forward", &global_avg_pool2d_forward, nc("x"), nc("y"),
        "y (N, C) = mean of x (N, C, H, W) over H and W.");
  m.def("global_avg_pool2d_backward", &global_avg_pool2d_backward, nc("dy"), nc("dx"),
        "dx (N, C, H, W) = dy (N, C) / (H * W) broadcast.");
}
