import EDLCMCore

extension DatasetName {
    /// The per-channel mean and standard deviation of the training images in [0, 1], which the
    /// models subtract and divide by internally (computed over each training split).
    public var normalization: (mean: [Double], std: [Double]) {
        switch self {
        case .fashionMNIST: ([0.2860], [0.3530])
        case .mnist: ([0.1307], [0.3081])
        case .cifar10: ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
        case .cifar100: ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762])
        case .tinyImageNet: ([0.4802, 0.4481, 0.3975], [0.2770, 0.2691, 0.2821])
        }
    }
}
