# tflint over the synthesized stacks (cdktf.out/stacks/*): the bundled Terraform ruleset, no plugins to
# download. Run by the policy tier.
config {
  format = "compact"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
