import EDLCMCore

/// The image classification datasets EDLCM can read.
///
/// The raw values are the names used on the command line and in configuration files.
public enum DatasetName: String, Codable, CaseIterable, Sendable {
    /// Zalando's Fashion-MNIST: 28×28 grayscale, 10 classes, IDX files.
    case fashionMNIST = "fashion-mnist"
    /// MNIST handwritten digits: 28×28 grayscale, 10 classes, IDX files.
    case mnist
    /// CIFAR-10: 32×32 RGB, 10 classes, binary version.
    case cifar10
    /// CIFAR-100: 32×32 RGB, 100 fine classes, binary version.
    case cifar100
    /// Tiny ImageNet (tiny-imagenet-200): 64×64 RGB JPEGs, 200 classes.
    case tinyImageNet = "tiny-imagenet"

    /// Colour channels per image: 1 for the MNIST family, 3 (RGB) otherwise.
    public var channels: Int {
        switch self {
        case .fashionMNIST, .mnist: 1
        case .cifar10, .cifar100, .tinyImageNet: 3
        }
    }

    /// Image height in pixels.
    public var height: Int {
        switch self {
        case .fashionMNIST, .mnist: 28
        case .cifar10, .cifar100: 32
        case .tinyImageNet: 64
        }
    }

    /// Image width in pixels (the images are square).
    public var width: Int { height }

    /// Number of classes; labels lie in `0..<classCount`.
    public var classCount: Int {
        switch self {
        case .fashionMNIST, .mnist, .cifar10: 10
        case .cifar100: 100
        case .tinyImageNet: 200
        }
    }

    /// The folder a distribution package installs the dataset into, or `nil` when there is
    /// none and the user must name a folder.
    ///
    /// Fashion-MNIST: `/usr/share/datasets/fashion-mnist`, where Debian's
    /// `dataset-fashion-mnist` package puts the four gzipped IDX files.
    public var defaultDirectory: String? {
        switch self {
        case .fashionMNIST: "/usr/share/datasets/fashion-mnist"
        case .mnist, .cifar10, .cifar100, .tinyImageNet: nil
        }
    }

    /// The dataset's usual written name, for messages ("Fashion-MNIST", "CIFAR-10", …).
    public var displayName: String {
        switch self {
        case .fashionMNIST: "Fashion-MNIST"
        case .mnist: "MNIST"
        case .cifar10: "CIFAR-10"
        case .cifar100: "CIFAR-100"
        case .tinyImageNet: "Tiny ImageNet"
        }
    }
}

/// Which half of a dataset to read.
///
/// For Tiny ImageNet, whose own test images carry no labels, `test` is the labelled `val` split.
public enum DatasetSplit: String, Sendable {
    /// The training images.
    case train
    /// The held-out images used for evaluation.
    case test
}

extension DatasetName: SettingChoice {}

/// The images an evaluation attacks, chosen with `--split`.
public enum EvaluationSplit: String, SettingChoice {
    /// The dataset's test split.
    case test
    /// The run's validation split: training images it held out (`--validation N`), for choices
    /// (strengths, budgets) that must not look at the test split.
    case validation
}

/// Where a dataset's files are, shared by every command that reads a dataset.
public struct DataFolderSettings: ResultNeutralSettings {
    @Setting(
        "Folder holding the dataset files (MNIST and CIFAR in their standard binary formats, Tiny ImageNet as unpacked).",
        key: "data-dir",
        defaultText:
            "train: Debian's Fashion-MNIST folder, required for the others; evaluate and analyze: the folder the run recorded")
    public var directory: String? = nil

    public init() {}
}
