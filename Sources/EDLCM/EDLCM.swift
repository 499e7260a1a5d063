// The product library in one import: every layer's public API. Each layer is a target of its own
// (docs/architecture.md shows the graph), so that an arrow pointing back up is a build error.
@_exported import EDLCMAttacks
@_exported import EDLCMBenchmark
@_exported import EDLCMCore
@_exported import EDLCMData
@_exported import EDLCMDefenses
@_exported import EDLCMEvaluation
@_exported import EDLCMModels
@_exported import EDLCMReport
@_exported import EDLCMStudy
@_exported import EDLCMTraining
