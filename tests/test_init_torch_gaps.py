"""nn.init as torch's for code ported from torch: its private helpers (custom reset_parameters()
methods call them) and case-insensitive kaiming modes."""
import math

import numpy as np
import pytest

from fastnn import nn
from fastnn.nn import init


def test_torchs_private_helpers_exist_and_agree_with_the_public_ones():
    w = np.zeros((4, 3, 2, 2), np.float32)
    assert init._calculate_fan_in_and_fan_out(w) == init.calculate_fan_in_and_fan_out(w) == (12, 16)
    assert init._calculate_correct_fan(w, "fan_in") == 12 and init._calculate_correct_fan(w, "fan_out") == 16
    init._no_grad_fill_(w, 2.0)
    assert (w == 2.0).all()
    init._no_grad_zero_(w)
    assert not w.any()
    init._no_grad_uniform_(w, -0.5, 0.5)
    assert w.min() >= -0.5 and w.max() <= 0.5 and w.std() > 0
    init._no_grad_normal_(w, 3.0, 0.1)
    assert abs(w.mean() - 3.0) < 0.1


def test_a_reset_parameters_ported_from_torch_runs():
    class MyLinear(nn.Linear):
        def reset_parameters(self):
            init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    layer = MyLinear(50, 20)
    assert np.abs(layer.bias.data).max() <= 1 / math.sqrt(50)
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(50) + 1e-7


@pytest.mark.parametrize("mode, fan", [("FAN_IN", 12), ("Fan_Out", 16)])
def test_kaiming_mode_is_case_insensitive(mode, fan):
    w = np.zeros((4, 3, 2, 2))
    init.kaiming_uniform_(w, mode=mode, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'. Received: mode='fan'"):
        init.kaiming_normal_(w, mode="fan")


def test_the_old_weight_norm_warns_as_torchs():
    """torch.nn.utils.weight_norm emits a FutureWarning pointing at parametrizations.weight_norm;
    the new API does not."""
    import warnings

    from fastnn.nn.utils import parametrizations, weight_norm

    with pytest.warns(FutureWarning, match=r"`fastnn.nn.utils.weight_norm` is deprecated in favor of "
                                           r"`fastnn.nn.utils.parametrizations.weight_norm`"):
        weight_norm(nn.Linear(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parametrizations.weight_norm(nn.Linear(2, 3))
