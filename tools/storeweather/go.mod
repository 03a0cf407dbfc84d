module riftdrill/storeweather

go 1.22
