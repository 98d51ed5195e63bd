module meshcp.local/demo/go

go 1.24
