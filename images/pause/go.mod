module spillway.dev/pause

go 1.22
