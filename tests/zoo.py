"""The suite's test networks, in one module. ``tests/`` is on ``sys.path`` during the suite, so
the CLI imports them as factories by name (``neurongraph ingest zoo:TinyResNet ...``)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResidualMLP(nn.Module):
    """``fc2(relu(fc1(x))) + x`` on 4 -> 4 -> 4."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4, bias=False)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) + x


class Skip(nn.Module):
    """``fc2(relu(fc1(x))) + fc1(x)``: the skip adds the first layer's output."""

    def __init__(self, n_in=2, width=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(torch.relu(h)) + h


def wide_skip() -> Skip:
    """:class:`Skip` on 4 -> 4 -> 4."""
    return Skip(4, 4)


def poly_skip() -> Skip:
    """:class:`Skip` on 2 -> 6 -> 6, for the six outputs of the ``poly`` regression task."""
    return Skip(2, 6)


class ResidualOnInput(nn.Module):
    """``fc2(relu(fc1(x)) + x)``: on zeros it looks like the chain fc1 > relu > fc2 (as a chain,
    the trust issue's silent misread)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) + x)


class FunctionalRelu(nn.Module):
    """Bias-free, with a functional ReLU that no module accounts for (zeros in, zeros out):
    the trust issue's other misread."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32, bias=False)
        self.fc2 = nn.Linear(32, 10, bias=False)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def digits_cnn() -> nn.Sequential:
    """The suite's small CNN with BatchNorm for 1 x 8 x 8 digits images (untrained)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10),
    )


class BasicBlock(nn.Module):
    """A ResNet basic block with BatchNorm; a 1 x 1 convolution on the shortcut when the shape
    changes (scriptable: the identity shortcut is an empty Sequential)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        identity = self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return F.relu(out)


class TinyResNet(nn.Module):
    """A stem, two basic blocks (the second strided, with a shortcut convolution), average
    pooling and a linear head, for 1 x 8 x 8 digits images: the graph of
    :data:`RESNET_LAYERS` and :data:`RESNET_FEEDS`."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.layer1 = BasicBlock(4, 4)
        self.layer2 = BasicBlock(4, 8, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


#: :class:`TinyResNet`'s layers as the graph names them: (name, kind, width), in order.
RESNET_LAYERS = [
    ("input", "input", 1),
    ("stem.0", "conv2d", 4),
    ("layer1.conv1", "conv2d", 4),
    ("layer1.conv2", "conv2d", 4),
    ("layer1.add", "sum", 4),
    ("layer2.shortcut.0", "conv2d", 8),
    ("layer2.conv1", "conv2d", 8),
    ("layer2.conv2", "conv2d", 8),
    ("layer2.add", "sum", 8),
    ("fc", "linear", 10),
]
#: :class:`TinyResNet`'s FEEDS: (source layer, target layer).
RESNET_FEEDS = {
    ("input", "stem.0"),
    ("stem.0", "layer1.conv1"),
    ("layer1.conv1", "layer1.conv2"),
    ("layer1.conv2", "layer1.add"),
    ("stem.0", "layer1.add"),
    ("layer1.add", "layer2.shortcut.0"),
    ("layer1.add", "layer2.conv1"),
    ("layer2.conv1", "layer2.conv2"),
    ("layer2.conv2", "layer2.add"),
    ("layer2.shortcut.0", "layer2.add"),
    ("layer2.add", "fc"),
}


class PlantedResidual(nn.Module):
    """Two modules on ``two-tasks`` with a residual block: ``head(h + relu(fc2(h)))`` with
    ``h = relu(fc1(x))`` (dropout 0.3 on ``h`` and the sum while training), 128 -> 64 -> 64 ->
    20. Trained with :meth:`masks` applied,
    hidden units 0-31 of every layer see only the left image and feed only logits 0-9 (task A),
    units 32-63 the right image and logits 10-19 (task B)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(128, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 20)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))
        return self.head(self.drop(h + torch.relu(self.fc2(h))))

    def masks(self) -> dict[str, torch.Tensor]:
        """The block-diagonal mask of each weight, by layer name."""
        m1, m2, m3 = torch.zeros(64, 128), torch.zeros(64, 64), torch.zeros(20, 64)
        m1[:32, :64] = m1[32:, 64:] = 1
        m2[:32, :32] = m2[32:, 32:] = 1
        m3[:10, :32] = m3[10:, 32:] = 1
        return {"fc1": m1, "fc2": m2, "head": m3}


class Gated(nn.Module):
    """``a(x) * sigmoid(b(x))``: a gate, which the graph cannot read."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 8)
        self.b = nn.Linear(64, 8)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


class Planted(nn.Module):
    """``head(x + fc2(relu(fc1(x))))`` on 12 features in 3 modules."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 12)
        self.fc2 = nn.Linear(12, 12)
        self.head = nn.Linear(12, 6)

    def forward(self, x):
        return self.head(x + self.fc2(torch.relu(self.fc1(x))))


class Recurrent(nn.Module):
    """An LSTM and a linear head: a recurrent network, which the graph cannot read."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 3, batch_first=True)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])


#: Tokens of a BERT vocabulary before the words of the built-in text task.
BERT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def save_text_bert(directory, *, hidden: int = 32, layers: int = 2, seed: int = 0):
    """Save a randomly initialised BERT-style encoder with a word-piece tokenizer built in code
    from the text task's words (no download) into ``directory``."""
    import transformers

    from neurongraph.model.texts import WORDS

    vocab = {token: i for i, token in enumerate((*BERT_SPECIAL, *WORDS[2:]))}
    transformers.BertTokenizerFast(vocab=vocab).save_pretrained(directory)
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(BERT_SPECIAL) + len(WORDS) - 2,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=32,
    )
    transformers.BertModel(config).save_pretrained(directory)
    return directory
