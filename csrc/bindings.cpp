// The only file that includes pybind11. Each entry point checks dtype, rank, shape,
// C-contiguity and writability up front (never a silent cast or copy: a copy would lose
// in-place writes), raises ValueError/TypeError naming the bad value, then releases the GIL
// and calls a kernel in csrc/kernels/. Outputs are allocated by the caller (fastnn.ops).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <cstdint>
#include <optional>
#include <utility>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/activations.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
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
  throw py::value_error("unknown activation '" + name +
                        "'; expected one of: step, sigmoid, tanh, relu, leaky_relu, softplus, swish, elu");
}

void activation_forward(const std::string& name, const py::array& x, py::array& out, double p0,
                        double p1) {
  const Act act = parse_act(name);
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(out, "out", dt);
  require_same_shape(x, "x", out, "out");
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
  const DType dt = float_dtype(dy, "dy");
  check_in(dy, "dy", dt);
  check_in(saved, "saved", dt);
  check_out(out, "out", dt);
  require_same_shape(dy, "dy", saved, "saved");
  require_same_shape(dy, "dy", out, "out");
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

void gemm(const py::array& a, const py::array& b, py::array& out, bool trans_a, bool trans_b,
          double alpha, double beta, const std::optional<py::array>& bias) {
  const DType dt = float_dtype(a, "a");
  check_in(a, "a", dt);
  check_in(b, "b", dt);
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
  const int64_t lda = a.shape(1), ldb = b.shape(1), ldc = n;
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    fastnn::gemm<float>(trans_a, trans_b, m, n, ka, static_cast<float>(alpha), cptr<float>(a), lda,
                        cptr<float>(b), ldb, static_cast<float>(beta), mptr<float>(out), ldc,
                        static_cast<const float*>(bias_ptr));
  else
    fastnn::gemm<double>(trans_a, trans_b, m, n, ka, alpha, cptr<double>(a), lda, cptr<double>(b), ldb,
                         beta, mptr<double>(out), ldc, static_cast<const double*>(bias_ptr));
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

void set_num_threads(int n) {
  if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
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
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    throw py::value_error("kernel_size " + pair_str(kernel) + " is larger than the padded input: " +
                          std::string(name) + " " + shape_str(x) + " with padding " + pair_str(padding) +
                          " is " + pair_str({g.h + 2 * g.ph, g.w + 2 * g.pw}));
  g.oh = fastnn::conv_output_size(g.h, g.kh, g.sh, g.ph);
  g.ow = fastnn::conv_output_size(g.w, g.kw, g.sw, g.pw);
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
  if (c.kh * c.kw > INT32_MAX)  // the max-pool kernel records window offsets in 32 bits
    throw py::value_error("pooling kernel_size " + pair_str(kernel) + " has more than 2^31 - 1 elements");
  return fastnn::PoolGeom{c.n * c.c, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.oh, c.ow};
}

void max_pool2d_forward(const py::array& x, py::array& y, py::array& indices, const Pair& kernel_size,
                        const Pair& stride, const Pair& padding) {
  const DType dt = float_dtype(x, "x");
  check_in(x, "x", dt);
  check_out(y, "y", dt);
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
  m.def("get_num_threads", &fastnn::get_num_threads, "Threads kernels use.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the threads kernels use (n >= 1).");
  m.def("max_hardware_threads", &fastnn::max_hardware_threads, "Logical CPUs available.");

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
        py::arg("bias") = py::none(), "out = alpha * op(a) @ op(b) + beta * out (+ bias per row).");

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
