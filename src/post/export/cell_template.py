"""A recurrent cell found by neural architecture search (nas-actor export).

@SOURCE@
Cell: @DESCRIPTION@

Self-contained: needs only PyTorch. `NasCell` is one layer of the cell;
`WordLm` is the word-level language model nas-actor trains around it, with
the same parameter names and shapes as the tch model, so the weights that
`nas-actor retrain` saves (final.safetensors) load with
`WordLm.from_safetensors(path)`.

Semantics of one time step (node k, pre-activation pre_k):
  leaf k:     pre_k = W_k x_t (+) U_k h_{t-1}
  inner node: pre_k = out_left (+) out_right
  out_k = act_k(pre_k); at the inject node out_k <- act_inj(out_k (+)_inj c_{t-1})
  c_t = pre_{cell node};  h_t = out_root
No biases. Weight layout: w_x is [input_size, BASE * hidden_size] and w_h is
[hidden_size, BASE * hidden_size]; leaf k uses columns k*H .. (k+1)*H of both.

Parameter names of WordLm: encoder [vocab, embedding], layer{l}.w_x,
layer{l}.w_h, decoder.weight [vocab, hidden] (absent when tied: the encoder
is the decoder), decoder.bias [vocab].
"""

import json
import struct

import torch
import torch.nn.functional as F
from torch import nn

# Leaves of the cell's tree.
BASE = @BASE@
# The child-training settings of the run (defaults of WordLm).
EMBEDDING_SIZE = @EMBEDDING@
HIDDEN_SIZE = @HIDDEN@
LAYERS = @LAYERS@
DROPOUT = @DROPOUT@
TIED = @TIED@


class NasCell(nn.Module):
    """One layer of the searched cell."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        width = BASE * hidden_size
        self.w_x = nn.Parameter(torch.empty(input_size, width).uniform_(-0.1, 0.1))
        self.w_h = nn.Parameter(torch.empty(hidden_size, width).uniform_(-0.1, 0.1))

    def zero_state(self, batch):
        """(h, c), each zeros [batch, hidden_size]."""
        z = self.w_h.new_zeros(batch, self.hidden_size)
        return z, z.clone()

    def forward(self, xs, state):
        """xs: [T, B, input_size]; state: (h, c), each [B, H].
        Returns the outputs h_1..h_T [T, B, H] and the final (h, c)."""
        steps, batch, size = xs.shape
        projected = (xs.reshape(steps * batch, size) @ self.w_x).view(steps, batch, -1)
        h, c = state
        outputs = []
        for t in range(steps):
            h, c = self.step(projected[t], h, c)
            outputs.append(h)
        return torch.stack(outputs, 0), (h, c)

    def step(self, x_proj, h_prev, c_prev):
        """One step from the projected input [B, BASE*H] and the previous (h, c)."""
        H = self.hidden_size
        h_proj = h_prev @ self.w_h
@STEP@

class _Decoder(nn.Module):
    """decoder.weight (untied only) and decoder.bias."""

    def __init__(self, vocab_size, hidden_size, tied):
        super().__init__()
        if not tied:
            self.weight = nn.Parameter(torch.empty(vocab_size, hidden_size).uniform_(-0.1, 0.1))
        self.bias = nn.Parameter(torch.zeros(vocab_size))


class WordLm(nn.Module):
    """embedding -> dropout -> LAYERS cell layers, each followed by dropout -> linear decoder."""

    def __init__(
        self,
        vocab_size,
        embedding_size=EMBEDDING_SIZE,
        hidden_size=HIDDEN_SIZE,
        layers=LAYERS,
        dropout=DROPOUT,
        tied=TIED,
    ):
        super().__init__()
        if tied and embedding_size != hidden_size:
            raise ValueError("tied embeddings need embedding_size == hidden_size")
        self.tied = tied
        self.layers = layers
        self.encoder = nn.Parameter(torch.empty(vocab_size, embedding_size).uniform_(-0.1, 0.1))
        for l in range(layers):
            size = embedding_size if l == 0 else hidden_size
            self.add_module(f"layer{l}", NasCell(size, hidden_size))
        self.decoder = _Decoder(vocab_size, hidden_size, tied)
        self.drop = nn.Dropout(dropout)

    def cells(self):
        return [getattr(self, f"layer{l}") for l in range(self.layers)]

    def zero_state(self, batch):
        """One (h, c) per layer, zeros."""
        return [cell.zero_state(batch) for cell in self.cells()]

    def forward(self, tokens, state=None):
        """tokens: [T, B] int64 -> logits [T, B, vocab] and the new state."""
        if state is None:
            state = self.zero_state(tokens.shape[1])
        xs = self.drop(F.embedding(tokens, self.encoder))
        new_state = []
        for cell, s in zip(self.cells(), state):
            ys, s = cell(xs, s)
            xs = self.drop(ys)
            new_state.append(s)
        weight = self.encoder if self.tied else self.decoder.weight
        return F.linear(xs, weight, self.decoder.bias), new_state

    @classmethod
    def from_safetensors(cls, path, **kwargs):
        """A WordLm with the weights of `path`; the vocabulary size comes from the file."""
        tensors = load_safetensors(path)
        model = cls(tensors["encoder"].shape[0], **kwargs)
        model.load_state_dict(tensors, strict=True)
        return model

@COMMON@
