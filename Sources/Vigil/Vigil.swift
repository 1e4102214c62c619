// The umbrella module: a host imports `Vigil` and gets every library module.
@_exported import VigilMetrics
@_exported import VigilTracing
@_exported import VigilResources
@_exported import VigilExport
@_exported import VigilInstrument
