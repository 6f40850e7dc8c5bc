module example.com/app

go 1.22

require golang.org/x/net v0.0.0-20190620200207-3b0461eec859
