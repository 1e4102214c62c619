// The umbrella module: a host imports `Vigil` and gets every library module.
@_exported import VigilContract
@_exported import VigilExport
@_exported import VigilInstrument
@_exported import VigilMetrics
@_exported import VigilOTLP
@_exported import VigilResources
@_exported import VigilTracing
