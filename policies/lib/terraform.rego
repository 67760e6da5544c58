# Helpers shared by the Spillway policies for reading cdktf-synthesized
# Terraform JSON (cdk.tf.json).
package spillway.lib.terraform

# cdktf emits a nested block as an object when it occurs once and as a list
# when it may repeat, so every block read goes through as_list.
as_list(x) := x if {
	is_array(x)
} else := [] if {
	x == null
} else := [x]

blocks(body, key) := as_list(object.get(body, key, []))

# Messages name the Terraform address plus the cdktf construct path, because
# the construct path is what leads back to the TypeScript source.
label(type, name) := sprintf("%s.%s (%s)", [type, name, path]) if {
	path := input.resource[type][name]["//"].metadata.path
	is_string(path)
} else := sprintf("%s.%s", [type, name])

data_label(type, name) := sprintf("data.%s.%s (%s)", [type, name, path]) if {
	path := input.data[type][name]["//"].metadata.path
	is_string(path)
} else := sprintf("data.%s.%s", [type, name])

# Ports and counts may be numbers or strings; anything else (an interpolation
# such as "${var.port}") has no number, and callers treat that as unknown.
as_number(x) := to_number(s) if {
	s := trim_space(sprintf("%v", [x]))
	regex.match(`^[0-9]+$`, s)
}

# --- Limits -----------------------------------------------------------------
# Defaults live in policies/data.json (data.spillway.limits). A caller can
# merge changes on top with data.spillway.limits_override without clashing
# with the defaults file (OPA refuses to load two files setting one value).

default configured_limits := {}

configured_limits := data.spillway.limits

default limit_overrides := {}

limit_overrides := data.spillway.limits_override

limits := object.union(configured_limits, limit_overrides)

# --- Buckets ----------------------------------------------------------------
# S3 settings live in companion resources (aws_s3_bucket_versioning, ...) that
# point back at the bucket through their `bucket` attribute, either by
# interpolation or by repeating the literal bucket name.

refers_to_bucket(ref, name) if {
	ref in {
		sprintf("${aws_s3_bucket.%s.id}", [name]),
		sprintf("${aws_s3_bucket.%s.bucket}", [name]),
	}
}

refers_to_bucket(ref, name) if {
	literal := input.resource.aws_s3_bucket[name].bucket
	is_string(literal)
	ref == literal
}

# Companion resources of `type` (name -> body) that configure bucket `name`.
bucket_companions(type, name) := {companion: body |
	some companion, body in input.resource[type]
	refers_to_bucket(body.bucket, name)
}

# --- Provider defaults -------------------------------------------------------
# A resource uses the unaliased provider configuration unless it sets
# provider = "<cloud>.<alias>".

provider_configs(cloud, body) := [config |
	some config in as_list(input.provider[cloud])
	provider_ref(cloud, config) == object.get(body, "provider", "")
]

provider_ref(cloud, config) := sprintf("%s.%s", [cloud, config.alias]) if {
	is_string(config.alias)
} else := ""
