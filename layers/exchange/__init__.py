"""Exchange with city platforms and GIS desktops (数据交换): the published layers, who may read
them, streamed GeoJSON and file export, OGC API – Features, vector tiles, and file import."""
