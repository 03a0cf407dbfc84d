terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  # No providers: the layout is pure arithmetic on the inputs, so `terraform validate` and
  # tests/unit/test_node_layout.py run it offline for real.
}
