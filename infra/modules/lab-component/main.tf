# One component of the local lab. Create runs `python -m riftdrill.lab up <kind>` and destroy
# runs `... down <kind>`, each with the component's spec as JSON in RIFTDRILL_SPEC; a changed
# spec replaces the component (down, then up).
resource "terraform_data" "this" {
  triggers_replace = [var.spec, var.replace_when]
  input = {
    kind   = var.kind
    spec   = jsonencode(var.spec)
    python = var.runner.python
    home   = var.runner.home
  }

  provisioner "local-exec" {
    command     = "${self.input.python} -m riftdrill.lab up ${self.input.kind}"
    environment = { RIFTDRILL_SPEC = self.input.spec, RIFTDRILL_HOME = self.input.home }
  }
  provisioner "local-exec" {
    when        = destroy
    command     = "${self.input.python} -m riftdrill.lab down ${self.input.kind}"
    environment = { RIFTDRILL_SPEC = self.input.spec, RIFTDRILL_HOME = self.input.home }
  }
}
