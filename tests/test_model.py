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


@pytest.mark.parametrize("transform", ["none", "window_relative"])
@pytest.mark.parametrize("network", ["lstm", "gru"])
def test_linear_skip_adds_a_linear_map_of_the_windows_last_steps(network, transform):
    """model.linear_skip=k: the head's output plus a linear map of the last k steps the layers
    read (every column); with the head at zero the network is exactly that linear map."""
    from lstm_lab.models.gru import GRURegressor

    cls = GRURegressor if network == "gru" else LSTMRegressor
    torch.manual_seed(0)
    net = cls(input_size=2, hidden_size=4, horizon=3, linear_skip=5, transform=transform).eval()
    x = torch.randn(6, 8, 2)
    with torch.no_grad():
        with_skip = net(x)
        net.skip.weight.zero_()
        net.skip.bias.zero_()
        assert not torch.allclose(net(x), with_skip)  # the skip is part of the forecast
        torch.manual_seed(1)
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.skip.weight.normal_()
        net.skip.bias.normal_()
        seen = net.encode(x)[:, -5:].reshape(6, 10)  # steps 4..8 of both columns, in order
        linear = seen @ net.skip.weight.T + net.skip.bias
        torch.testing.assert_close(net(x), net.decode(x, linear))
        earlier = x.clone()  # and only the last five steps count
        earlier[:, :3] += 100.0
        torch.testing.assert_close(net(earlier), net(x))
    assert sum(p.numel() for p in net.skip.parameters()) == 5 * 2 * 3 + 3
    assert not hasattr(cls(input_size=2, horizon=3), "skip")  # 0: no skip
