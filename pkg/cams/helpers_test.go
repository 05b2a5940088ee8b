package cams_test

import (
	"os"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func getenv(k string) string { return os.Getenv(k) }
