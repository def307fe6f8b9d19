from .module import Module
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, NonDynamicallyQuantizableLinear, Bilinear, Flatten, Unflatten
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d,
                      AdaptiveAvgPool1d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d,
                      MaxUnpool3d)
from .normalization import (BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, InstanceNorm1d,
                            InstanceNorm2d, InstanceNorm3d, RMSNorm, LocalResponseNorm)
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout
from .activation import (ReLU, ReLU6, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softmax,
                         LogSoftmax, Softplus, Hardtanh, Mish, Softmin, Hardswish, Hardsigmoid,
                         PReLU, RReLU, Hardshrink, Softshrink, Threshold, GLU, CELU, SELU,
                         Softsign, Tanhshrink, LogSigmoid, Softmax2d)
from .sparse import Embedding
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, CrossEntropyLoss, NLLLoss, BCELoss,
                   BCEWithLogitsLoss, KLDivLoss, MarginRankingLoss, HingeEmbeddingLoss,
                   SoftMarginLoss, MultiLabelSoftMarginLoss, CosineEmbeddingLoss,
                   TripletMarginLoss, TripletMarginWithDistanceLoss, MultiMarginLoss,
                   MultiLabelMarginLoss, PoissonNLLLoss, GaussianNLLLoss, CTCLoss)
from .distance import CosineSimilarity, PairwiseDistance
from .pixelshuffle import PixelShuffle, PixelUnshuffle, ChannelShuffle
from .padding import (ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d,
                      ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d,
                      ConstantPad1d, ConstantPad2d, ConstantPad3d, CircularPad1d, CircularPad2d,
                      CircularPad3d)
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .fold import Fold, Unfold
from .transformer import (MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer,
                          TransformerEncoder, TransformerDecoder, Transformer)

# PyTorch's home of MultiheadAttention is nn.modules.activation: programs name it there
activation.MultiheadAttention = MultiheadAttention
