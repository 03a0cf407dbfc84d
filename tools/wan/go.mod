module riftdrill/wan

go 1.22
