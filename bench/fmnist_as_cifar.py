#!/usr/bin/python3
"""Writes Fashion-MNIST in the CIFAR-10 binary format, for timing ResNet-20 (32×32×3) on a machine
that cannot download CIFAR-10: each 28×28 image is padded to 32×32 and repeated in 3 channels,
records are <1 label byte><3072 pixel bytes>, 12 000 training images in each of data_batch_1..5.bin
and the 10 000 test images in test_batch.bin. A benchmark fixture, not a dataset to report on.

Usage: bench/fmnist_as_cifar.py OUT_FOLDER [FASHION_MNIST_FOLDER]
"""
import gzip, os, struct, sys
import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, 28, 28)
    return np.frombuffer(data[8:], dtype=np.uint8)


def records(images, labels):
    padded = np.zeros((len(images), 3, 32, 32), dtype=np.uint8)
    padded[:, :, 2:30, 2:30] = images[:, None]
    return np.concatenate([labels[:, None], padded.reshape(len(images), -1)], axis=1).tobytes()


def main():
    out = os.path.join(sys.argv[1], "cifar-10-batches-bin")
    source = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    os.makedirs(out, exist_ok=True)
    train = read_idx(f"{source}/train-images-idx3-ubyte.gz"), read_idx(f"{source}/train-labels-idx1-ubyte.gz")
    test = read_idx(f"{source}/t10k-images-idx3-ubyte.gz"), read_idx(f"{source}/t10k-labels-idx1-ubyte.gz")
    for batch in range(5):
        part = slice(batch * 12000, (batch + 1) * 12000)
        with open(f"{out}/data_batch_{batch + 1}.bin", "wb") as handle:
            handle.write(records(train[0][part], train[1][part]))
    with open(f"{out}/test_batch.bin", "wb") as handle:
        handle.write(records(*test))
    print(out)


if __name__ == "__main__":
    main()
