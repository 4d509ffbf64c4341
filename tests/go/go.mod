module dockward.invalid/godiff

go 1.22
