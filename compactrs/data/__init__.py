"""Dataset layer: ``load_dataset(spec)`` turns a spec string into a split, normalised ``Dataset``.

Specs: ``synthetic[,n=100,size=32]``, ``hsi:PATH[,patch=9,pca=30,split=spatial]``, ``so2sat:FILE.h5[,max=N]``,
``eurosat:DIR[,bands=B04+B03+B02]``, ``folder:DIR[,size=N]``; every kind also takes ``test=F``.
"""
from ._base import Dataset
from ._compatible import check_dataset_fits
from ._load import describe_dataset, load_dataset
from ._registry import DATASET_KINDS
from ._spec import parse_spec

__all__ = ["Dataset", "DATASET_KINDS", "check_dataset_fits", "describe_dataset", "load_dataset", "parse_spec"]
