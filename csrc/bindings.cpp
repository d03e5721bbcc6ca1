// The only file that includes pybind11. Each entry point checks dtype, rank, shape,
// C-contiguity and writability up front (never a silent cast or copy: a copy would lose
// in-place writes), raises ValueError/TypeError naming the bad value, then releases the GIL
// and calls a kernel in csrc/kernels/. Outputs are allocated by the caller (fastnn.ops).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/activations.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

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
          double alpha, double beta, const std::optional<py::array>& bias, bool relu) {
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
  const fastnn::GemmAct act = relu ? fastnn::GemmAct::relu : fastnn::GemmAct::none;
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
        py::arg("bias") = py::none(), py::arg("relu") = false,
        "out = alpha * op(a) @ op(b) + beta * out (+ bias per row), then ReLU if relu.");
  m.def("fma_peak_gflops", [](bool f64, double seconds) {
          if (!(seconds > 0.0 && seconds <= 10.0))
            throw py::value_error("seconds must be in (0, 10], got " + std::to_string(seconds));
          py::gil_scoped_release nogil;
          return fastnn::fma_peak_gflops(f64, seconds);
        }, py::arg("f64") = false, py::arg("seconds") = 0.05,
        "Measured peak GFLOP/s of one core with the current ISA's vectors (FMA = 2 flops); the GEMM "
        "benchmarks' 100 %. For 'generic' it times scalar multiply-adds (a lower bound).");
}
