"""Road networks and car travel times: graph building, speeds, matrices, surfaces, isochrones.

This sub-package knows graphs and points only: no communes, no service kinds.
"""
