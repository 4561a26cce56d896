import pytest
import torch

from lstm_lab.models.lstm import LSTMRegressor


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("horizon", [1, 3])
def test_shapes_of_prediction_output_sequence_and_states(layers, horizon):
    net = LSTMRegressor(
        input_size=2, hidden_size=8, num_layers=layers, dropout=0.1, horizon=horizon
    )
    x = torch.randn(5, 7, 2)
    pred, out, (h, c) = net.forward_with_state(x)
    assert pred.shape == (5, horizon)
    assert out.shape == (5, 7, 8)
    assert h.shape == c.shape == (layers, 5, 8)
    assert net(x).shape == (5, horizon)


def test_prediction_is_the_head_of_the_last_step_and_states_are_the_last_ones():
    torch.manual_seed(0)
    net = LSTMRegressor(hidden_size=4, num_layers=2).eval()
    x = torch.randn(3, 6, 1)
    pred, out, (h, c) = net.forward_with_state(x)
    torch.testing.assert_close(pred, net.head(out[:, -1]))
    torch.testing.assert_close(h[-1], out[:, -1])  # top layer's final hidden state


def test_initial_state_is_used_and_chunks_chain():
    torch.manual_seed(0)
    net = LSTMRegressor(hidden_size=4, num_layers=2).eval()
    x = torch.randn(2, 10, 1)
    whole, _, state_whole = net.forward_with_state(x)
    _, _, state_first = net.forward_with_state(x[:, :6])
    chained, _, state_chained = net.forward_with_state(x[:, 6:], state_first)
    torch.testing.assert_close(chained, whole)
    torch.testing.assert_close(state_chained[0], state_whole[0])
    fresh = net(x[:, 6:])
    assert not torch.allclose(fresh, whole)


def test_dropout_is_ignored_for_a_single_layer_without_warning(recwarn):
    LSTMRegressor(num_layers=1, dropout=0.5)
    assert not [w for w in recwarn if "dropout" in str(w.message)]
