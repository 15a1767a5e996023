module github.com/alfred-gateway/alfred/sdk/go

go 1.19
