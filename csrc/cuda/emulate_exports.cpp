// Test harness: compiles every CUDA source with emulate.h as plain C++ and exports a registry of
// its kernels for ctypes (tests/cuda_emulation.py): count, name and signature of kernel i, and a
// launcher taking the arguments as an array of pointers to their values. Built by the tests
// with the host compiler; not part of the package build. tests/test_cuda.py checks that every
// kernel nvcc finds in the sources is listed here.
#include "emulate.h"

#include "activations.cu"
#include "batchnorm.cu"
#include "conv.cu"
#include "dropout.cu"
#include "losses.cu"
#include "optim.cu"
#include "pool.cu"
#include "reduce.cu"

namespace {

#define FASTNN_EMU_TYPED(k) FASTNN_EMU_KERNEL(k##_f32), FASTNN_EMU_KERNEL(k##_f64)

const std::vector<fastnn_emu_kernel>& registry() {
  static const std::vector<fastnn_emu_kernel> kernels = {
      // activations.cu
      FASTNN_EMU_TYPED(act_forward), FASTNN_EMU_TYPED(act_backward), FASTNN_EMU_TYPED(softmax_forward),
      FASTNN_EMU_TYPED(softmax_backward),
      // batchnorm.cu
      FASTNN_EMU_TYPED(bn_stats_partials), FASTNN_EMU_TYPED(bn_finish_train), FASTNN_EMU_TYPED(bn_finish_eval),
      FASTNN_EMU_TYPED(bn_normalize), FASTNN_EMU_TYPED(bn_backward_partials), FASTNN_EMU_TYPED(bn_backward_finish),
      FASTNN_EMU_TYPED(bn_backward_dx),
      // conv.cu
      FASTNN_EMU_TYPED(im2col), FASTNN_EMU_TYPED(col2im), FASTNN_EMU_TYPED(to_channel_major),
      FASTNN_EMU_TYPED(from_channel_major), FASTNN_EMU_TYPED(channel_bias),
      // dropout.cu
      FASTNN_EMU_KERNEL(dropout_mask), FASTNN_EMU_TYPED(dropout_forward), FASTNN_EMU_TYPED(dropout_backward),
      // losses.cu
      FASTNN_EMU_TYPED(ce_labels_rows), FASTNN_EMU_TYPED(ce_soft_rows), FASTNN_EMU_TYPED(pointwise_loss_partials),
      FASTNN_EMU_TYPED(gaussian_nll_partials),
      // optim.cu
      FASTNN_EMU_KERNEL(sgd_update_f32), FASTNN_EMU_KERNEL(adagrad_update_f32),
      FASTNN_EMU_KERNEL(adadelta_update_f32), FASTNN_EMU_KERNEL(rmsprop_update_f32),
      FASTNN_EMU_KERNEL(adam_update_f32), FASTNN_EMU_KERNEL(radam_update_f32),
      // pool.cu
      FASTNN_EMU_TYPED(max_pool2d_forward), FASTNN_EMU_TYPED(max_pool2d_backward),
      FASTNN_EMU_TYPED(avg_pool2d_forward), FASTNN_EMU_TYPED(avg_pool2d_backward),
      FASTNN_EMU_TYPED(global_avg_pool2d_forward), FASTNN_EMU_TYPED(global_avg_pool2d_backward),
      // reduce.cu
      FASTNN_EMU_TYPED(channel_sum_partials), FASTNN_EMU_TYPED(finish_channel_sums),
      FASTNN_EMU_TYPED(first_outside), FASTNN_EMU_KERNEL(first_outside_i64), FASTNN_EMU_KERNEL(finish_first),
  };
  return kernels;
}

}  // namespace

extern "C" int fastnn_emu_kernel_count() { return static_cast<int>(registry().size()); }
extern "C" const char* fastnn_emu_kernel_name(int i) { return registry()[i].name; }
extern "C" const char* fastnn_emu_kernel_signature(int i) { return registry()[i].signature.c_str(); }

// Runs kernel i on a grid x block launch in the given thread order (emulate.h).
extern "C" void fastnn_emu_launch_kernel(int i, unsigned grid, unsigned block, int order, void** params) {
  registry()[i].launch(grid, block, order, params);
}
