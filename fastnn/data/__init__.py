"""fastnn.data: datasets with verified downloads, batch loaders, augmentation, splits,
cross-validation and ensembles. Pure Python + NumPy (downloads use only urllib).

- Datasets: :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10`,
  :func:`load_digits` return ``DatasetSplits(x_train, y_train, x_test, y_test)`` with images
  float32 NCHW in [0, 1] and labels int64.
- Loading: :class:`TensorDataset`, :class:`DataLoader` (seeded shuffling, background prefetch),
  and torch.utils.data's datasets, samplers and collate functions.
- Augmentation (``fastnn.data.transforms``): vectorised, seeded batch transforms.
- Validation: :func:`train_test_split`, :class:`KFold`, :class:`StratifiedKFold`,
  :func:`cross_validate`; ensembles :class:`Bagging`, :class:`Ensemble`.
"""
from . import transforms
from ._download import ChecksumError, DownloadError, RemoteFile, download, safe_extract
from .datasets import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetNotFoundError,
    DatasetSplits,
    default_cache_dir,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    locate_and_load,
)
from .collate import default_collate, default_convert, get_worker_info
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, random_split
from .ensemble import Bagging, Ensemble
from .loader import DataLoader, TensorDataset
from .sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .splits import CVResult, KFold, Split, StratifiedKFold, cross_validate, train_test_split
from .transforms import (
    Compose,
    CutMix,
    Cutout,
    GaussianNoise,
    Mixup,
    Normalize,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRotation,
    RandomTranslate,
    RandomVerticalFlip,
    Transform,
    one_hot,
)
from .vision import CIFAR10, MNIST, FashionMNIST, Lambda, ToTensor, VisionDataset

__all__ = [
    # datasets
    "CIFAR10_CLASSES", "FASHION_MNIST_CLASSES", "MNIST_CLASSES", "DatasetNotFoundError",
    "DatasetSplits", "default_cache_dir", "load_cifar10", "load_digits", "load_fashion_mnist",
    "load_mnist", "locate_and_load",
    # downloads
    "ChecksumError", "DownloadError", "RemoteFile", "download", "safe_extract",
    # loading (torch.utils.data's names)
    "DataLoader", "TensorDataset", "Dataset", "IterableDataset", "Subset", "ConcatDataset", "ChainDataset",
    "StackDataset", "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "default_collate", "default_convert",
    "get_worker_info",
    # torchvision-style datasets and sample transforms
    "MNIST", "FashionMNIST", "CIFAR10", "VisionDataset", "ToTensor", "Lambda",
    # transforms
    "transforms", "Compose", "CutMix", "Cutout", "GaussianNoise", "Mixup", "Normalize",
    "RandomCrop", "RandomErasing", "RandomHorizontalFlip", "RandomRotation", "RandomTranslate",
    "RandomVerticalFlip", "Transform", "one_hot",
    # splits and validation
    "CVResult", "KFold", "Split", "StratifiedKFold", "cross_validate", "train_test_split",
    # ensembles
    "Bagging", "Ensemble",
]
