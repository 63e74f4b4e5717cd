module github.com/privinfer/mpcache

go 1.26
