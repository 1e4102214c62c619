// The umbrella module: a host imports `Vigil` and gets every library module.
@_exported import VigilMetrics
