# Security guardrails for the Spillway CDKTF stacks (synthesized cdk.tf.json).
#
# Rules:
#   1. No SSH (22) or Kubernetes API (6443) ingress from 0.0.0.0/0 or ::/0.
#   2. Buckets are encrypted, versioned and not public.
#   3. IAM grants no wildcard actions/resources and no primitive/admin GCP roles.
#   4. Taggable resources carry the required tags/labels.
package spillway.security

import data.spillway.lib.terraform as tf

# =============================================================================
# 1. No world-open admin ports
# =============================================================================

admin_ports := {22: "SSH", 6443: "Kubernetes API"}

world_open(cidr) if cidr in {"0.0.0.0/0", "::/0"}

# Port specs are "22", "80-85" or "any". Anything unparseable (an
# interpolation, a list) is treated as every port, so unknowns fail closed.
port_in_range(port, spec) if {
	[low, high] := port_span(spec)
	low <= port
	port <= high
}

port_span(spec) := [n, n] if {
	n := tf.as_number(spec)
} else := [low, high] if {
	parts := split(sprintf("%v", [spec]), "-")
	count(parts) == 2
	low := tf.as_number(parts[0])
	high := tf.as_number(parts[1])
} else := [0, 65535]

# AWS ignores from_port/to_port when the protocol is "-1" (all traffic); a
# missing or interpolated bound counts as the widest possible one.
aws_rule_covers(protocol, _, _, _) if lower(sprintf("%v", [protocol])) in {"-1", "all"}

aws_rule_covers(protocol, from, to, port) if {
	lower(sprintf("%v", [protocol])) in {"tcp", "6"}
	lower_bound(from) <= port
	port <= upper_bound(to)
}

aws_rule_text(protocol, from, to) := sprintf("ingress protocol %v (all traffic)", [protocol]) if {
	lower(sprintf("%v", [protocol])) in {"-1", "all"}
} else := sprintf("ingress %v ports %v-%v", [protocol, from, to])

lower_bound(x) := n if {
	n := tf.as_number(x)
} else := 0

upper_bound(x) := n if {
	n := tf.as_number(x)
} else := 65535

exposure(label, rule, cidr, port) := sprintf(
	"%s: %s is open to %s, exposing %s (port %d); restrict the source to admin/VPN or private CIDRs",
	[label, rule, cidr, admin_ports[port], port],
)

deny contains msg if {
	some name, firewall in input.resource.hcloud_firewall
	some rule in tf.blocks(firewall, "rule")
	lower(rule.direction) == "in"
	lower(rule.protocol) == "tcp"
	some cidr in tf.blocks(rule, "source_ips")
	world_open(cidr)
	spec := object.get(rule, "port", "any")
	some port, _ in admin_ports
	port_in_range(port, spec)
	msg := exposure(tf.label("hcloud_firewall", name), sprintf("inbound rule tcp port %v", [spec]), cidr, port)
}

deny contains msg if {
	some name, group in input.resource.aws_security_group
	some rule in tf.blocks(group, "ingress")
	some msg in aws_exposures("aws_security_group", name, rule, rule.protocol)
}

deny contains msg if {
	some name, rule in input.resource.aws_security_group_rule
	rule.type == "ingress"
	some msg in aws_exposures("aws_security_group_rule", name, rule, rule.protocol)
}

deny contains msg if {
	some name, rule in input.resource.aws_vpc_security_group_ingress_rule
	some msg in aws_exposures("aws_vpc_security_group_ingress_rule", name, rule, rule.ip_protocol)
}

# Inline/legacy rules list cidr_blocks and ipv6_cidr_blocks; the
# vpc_security_group_ingress_rule resource has single cidr_ipv4/cidr_ipv6.
aws_exposures(type, name, rule, protocol) := {msg |
	cidrs := array.concat(
		array.concat(tf.blocks(rule, "cidr_blocks"), tf.blocks(rule, "ipv6_cidr_blocks")),
		array.concat(tf.blocks(rule, "cidr_ipv4"), tf.blocks(rule, "cidr_ipv6")),
	)
	some cidr in cidrs
	world_open(cidr)
	from := object.get(rule, "from_port", null)
	to := object.get(rule, "to_port", null)
	some port, _ in admin_ports
	aws_rule_covers(protocol, from, to, port)
	msg := exposure(tf.label(type, name), aws_rule_text(protocol, from, to), cidr, port)
}

deny contains msg if {
	some name, firewall in input.resource.google_compute_firewall
	upper(object.get(firewall, "direction", "INGRESS")) == "INGRESS"
	some cidr in gcp_sources(firewall)
	world_open(cidr)
	some allow in tf.blocks(firewall, "allow")
	protocol := lower(sprintf("%v", [object.get(allow, "protocol", "all")]))
	protocol in {"tcp", "all", "6"}
	ports := tf.blocks(allow, "ports")
	some port, _ in admin_ports
	gcp_ports_cover(ports, port)
	text := sprintf("INGRESS allow %s ports %s", [protocol, gcp_ports_text(ports)])
	msg := exposure(tf.label("google_compute_firewall", name), text, cidr, port)
}

# An ingress rule with no source filter at all applies to 0.0.0.0/0 in GCP.
gcp_sources(firewall) := ["0.0.0.0/0"] if {
	count(tf.blocks(firewall, "source_ranges")) == 0
	count(tf.blocks(firewall, "source_tags")) == 0
	count(tf.blocks(firewall, "source_service_accounts")) == 0
} else := tf.blocks(firewall, "source_ranges")

gcp_ports_text(ports) := "(all)" if {
	count(ports) == 0
} else := concat(",", [sprintf("%v", [p]) | some p in ports])

# GCP reads an allow block without ports as every port.
gcp_ports_cover(ports, _) if count(ports) == 0

gcp_ports_cover(ports, port) if {
	some spec in ports
	port_in_range(port, spec)
}

# =============================================================================
# 2. Buckets encrypted, versioned, not public
# =============================================================================

encryption_algorithms := {"aws:kms", "aws:kms:dsse", "AES256"}

public_access_flags := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

public_canned_acls := {"public-read", "public-read-write", "authenticated-read"}

public_grantee_uris := {
	"http://acs.amazonaws.com/groups/global/AllUsers",
	"http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}

public_gcp_members := {"allUsers", "allAuthenticatedUsers"}

deny contains msg if {
	some name, _ in input.resource.aws_s3_bucket
	count(tf.bucket_companions("aws_s3_bucket_server_side_encryption_configuration", name)) == 0
	msg := sprintf("%s: bucket is not encrypted; add an aws_s3_bucket_server_side_encryption_configuration referring to it with sse_algorithm \"aws:kms\" (or \"AES256\")", [tf.label("aws_s3_bucket", name)])
}

deny contains msg if {
	some name, config in input.resource.aws_s3_bucket_server_side_encryption_configuration
	not sets_default_encryption(config)
	msg := sprintf("%s: no rule sets apply_server_side_encryption_by_default.sse_algorithm; use \"aws:kms\" or \"AES256\"", [tf.label("aws_s3_bucket_server_side_encryption_configuration", name)])
}

sets_default_encryption(config) if {
	some rule in tf.blocks(config, "rule")
	some default_encryption in tf.blocks(rule, "apply_server_side_encryption_by_default")
	default_encryption.sse_algorithm in encryption_algorithms
}

deny contains msg if {
	some name, _ in input.resource.aws_s3_bucket
	count(tf.bucket_companions("aws_s3_bucket_versioning", name)) == 0
	msg := sprintf("%s: bucket is not versioned; add an aws_s3_bucket_versioning referring to it with versioning_configuration.status \"Enabled\"", [tf.label("aws_s3_bucket", name)])
}

deny contains msg if {
	some name, versioning in input.resource.aws_s3_bucket_versioning
	not versioning_enabled(versioning)
	msg := sprintf("%s: versioning_configuration.status must be \"Enabled\"", [tf.label("aws_s3_bucket_versioning", name)])
}

versioning_enabled(versioning) if {
	some config in tf.blocks(versioning, "versioning_configuration")
	config.status == "Enabled"
}

deny contains msg if {
	some name, _ in input.resource.aws_s3_bucket
	count(tf.bucket_companions("aws_s3_bucket_public_access_block", name)) == 0
	msg := sprintf("%s: bucket has no aws_s3_bucket_public_access_block; add one referring to it with all four flags true", [tf.label("aws_s3_bucket", name)])
}

deny contains msg if {
	some name, block in input.resource.aws_s3_bucket_public_access_block
	some flag in public_access_flags
	object.get(block, flag, false) != true
	msg := sprintf("%s: %s must be true", [tf.label("aws_s3_bucket_public_access_block", name), flag])
}

deny contains msg if {
	some type in {"aws_s3_bucket_acl", "aws_s3_bucket"}
	some name, resource in input.resource[type]
	resource.acl in public_canned_acls
	msg := sprintf("%s: canned ACL \"%s\" makes the bucket public; use \"private\" or drop the ACL (BucketOwnerEnforced)", [tf.label(type, name), resource.acl])
}

deny contains msg if {
	some name, acl in input.resource.aws_s3_bucket_acl
	some policy in tf.blocks(acl, "access_control_policy")
	some grant in tf.blocks(policy, "grant")
	some grantee in tf.blocks(grant, "grantee")
	grantee.uri in public_grantee_uris
	msg := sprintf("%s: ACL grants access to %s; remove the public grant", [tf.label("aws_s3_bucket_acl", name), grantee.uri])
}

deny contains msg if {
	some name, bucket_policy in input.resource.aws_s3_bucket_policy
	some statement in policy_statements(bucket_policy.policy)
	allows(statement)
	"*" in statement.principals
	msg := sprintf("%s: a statement allows Principal \"*\" (actions %v); grant access to specific IAM principals instead", [tf.label("aws_s3_bucket_policy", name), statement.actions])
}

deny contains msg if {
	some name, bucket_policy in input.resource.aws_s3_bucket_policy
	not policy_statements(bucket_policy.policy)
	msg := sprintf("%s: policy is neither a JSON document nor a data.aws_iam_policy_document reference, so it cannot be checked for public principals; use one of those", [tf.label("aws_s3_bucket_policy", name)])
}

deny contains msg if {
	some name, bucket in input.resource.google_storage_bucket
	object.get(bucket, "uniform_bucket_level_access", false) != true
	msg := sprintf("%s: uniform_bucket_level_access must be true (object ACLs can make objects public)", [tf.label("google_storage_bucket", name)])
}

deny contains msg if {
	some name, bucket in input.resource.google_storage_bucket
	object.get(bucket, "public_access_prevention", "inherited") != "enforced"
	msg := sprintf("%s: public_access_prevention must be \"enforced\"", [tf.label("google_storage_bucket", name)])
}

deny contains msg if {
	some name, bucket in input.resource.google_storage_bucket
	not gcs_versioned(bucket)
	msg := sprintf("%s: versioning.enabled must be true", [tf.label("google_storage_bucket", name)])
}

gcs_versioned(bucket) if {
	some versioning in tf.blocks(bucket, "versioning")
	versioning.enabled == true
}

deny contains msg if {
	some type in {"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding"}
	some name, grant in input.resource[type]
	some member in iam_members(grant)
	member in public_gcp_members
	msg := sprintf("%s: grants %s on bucket %v to %s; grant it to a service account instead", [tf.label(type, name), grant.role, grant.bucket, member])
}

iam_members(grant) := array.concat(tf.blocks(grant, "member"), tf.blocks(grant, "members"))

# =============================================================================
# 3. IAM without wildcards
# =============================================================================

# Trust (assume_role_policy) documents are not permission policies and are
# not checked here.
permission_policy_types := {"aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy"}

# Primitive roles and *.admin roles are GCP's equivalent of "*".
privileged_gcp_role(role) if role in {"roles/owner", "roles/editor"}

privileged_gcp_role(role) if endswith(role, ".admin")

gcp_project_iam_types := {"google_project_iam_member", "google_project_iam_binding"}

wildcard_action(action) if action == "*"

wildcard_action(action) if endswith(action, ":*")

# Statements normalised from either an IAM JSON string or a
# data.aws_iam_policy_document; undefined when the policy is neither.
policy_statements(policy) := [json_statement(s) | some s in tf.as_list(object.get(document, "Statement", []))] if {
	is_string(policy)
	json.is_valid(policy)
	document := json.unmarshal(policy)
	is_object(document)
} else := [document_statement(s) | some s in tf.blocks(document, "statement")] if {
	document := input.data.aws_iam_policy_document[policy_document_name(policy)]
}

policy_document_name(ref) := name if {
	is_string(ref)
	[[_, name, _]] := regex.find_all_string_submatch_n(`^\$\{data\.aws_iam_policy_document\.([^.}]+)\.(json|minified_json)\}$`, ref, 1)
}

json_statement(s) := {
	"effect": object.get(s, "Effect", "Allow"),
	"actions": tf.as_list(object.get(s, "Action", [])),
	"not_actions": tf.as_list(object.get(s, "NotAction", [])),
	"resources": tf.as_list(object.get(s, "Resource", [])),
	"principals": json_principals(object.get(s, "Principal", null)),
}

json_principals(principal) := [id |
	some ids in principal
	some id in tf.as_list(ids)
] if {
	is_object(principal)
} else := tf.as_list(principal)

document_statement(s) := {
	"effect": object.get(s, "effect", "Allow"),
	"actions": tf.blocks(s, "actions"),
	"not_actions": tf.blocks(s, "not_actions"),
	"resources": tf.blocks(s, "resources"),
	"principals": [id |
		some principal in tf.blocks(s, "principals")
		some id in tf.blocks(principal, "identifiers")
	],
}

allows(statement) if lower(statement.effect) == "allow"

# What is wrong with an Allow statement, as texts for messages. Resource-based
# and trust statements name principals and are scoped by the resource they
# are attached to, so only identity statements must name their resources.
statement_problems(statement) := problems if {
	allows(statement)
	problems := union({
		{sprintf("action \"%s\" is a wildcard", [action]) | some action in statement.actions; wildcard_action(action)},
		{"Allow with NotAction grants every other action" | count(statement.not_actions) > 0},
		{"resource \"*\" is a wildcard" |
			count(statement.principals) == 0
			"*" in statement.resources
			not only_unscoped_actions(statement)
		},
	})
}

# Actions AWS authorizes only on Resource "*" (no resource-level permissions in the Service
# Authorization Reference): a statement of these alone may name "*".
unscoped_actions := {"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities"}

only_unscoped_actions(statement) if {
	count(statement.actions) > 0
	every action in statement.actions { action in unscoped_actions }
}

iam_fix := "list the specific actions and resource ARNs the workload needs"

deny contains msg if {
	some type in permission_policy_types
	some name, resource in input.resource[type]
	not policy_document_name(resource.policy)
	some statement in policy_statements(resource.policy)
	some problem in statement_problems(statement)
	msg := sprintf("%s: %s; %s", [tf.label(type, name), problem, iam_fix])
}

deny contains msg if {
	some name, role in input.resource.aws_iam_role
	some inline in tf.blocks(role, "inline_policy")
	not policy_document_name(inline.policy)
	some statement in policy_statements(inline.policy)
	some problem in statement_problems(statement)
	msg := sprintf("%s: inline_policy %v: %s; %s", [tf.label("aws_iam_role", name), object.get(inline, "name", ""), problem, iam_fix])
}

deny contains msg if {
	some name, document in input.data.aws_iam_policy_document
	some raw in tf.blocks(document, "statement")
	some problem in statement_problems(document_statement(raw))
	msg := sprintf("%s: %s; %s", [tf.data_label("aws_iam_policy_document", name), problem, iam_fix])
}

deny contains msg if {
	some type in permission_policy_types
	some name, resource in input.resource[type]
	not policy_statements(resource.policy)
	msg := sprintf("%s: policy is neither a JSON document nor a data.aws_iam_policy_document reference, so it cannot be checked for wildcards; use one of those", [tf.label(type, name)])
}

deny contains msg if {
	some type in gcp_project_iam_types
	some name, grant in input.resource[type]
	privileged_gcp_role(grant.role)
	msg := sprintf("%s: role %s is a primitive/admin role; grant a narrower predefined or custom role", [tf.label(type, name), grant.role])
}

# =============================================================================
# 4. Required tags and labels
# =============================================================================

# Where each taggable type keeps its tags. Extend this map for new types.
#   aws_tags:   `tags` map merged with the aws provider's default_tags
#   asg_tags:   repeated `tag { key, value, propagate_at_launch }` blocks
#   labels:     `labels` map
#   gcp_labels: `labels` map merged with the google provider's default_labels
tag_styles := {
	"aws_vpc": "aws_tags",
	"aws_subnet": "aws_tags",
	"aws_internet_gateway": "aws_tags",
	"aws_route_table": "aws_tags",
	"aws_security_group": "aws_tags",
	"aws_iam_role": "aws_tags",
	"aws_iam_policy": "aws_tags",
	"aws_sqs_queue": "aws_tags",
	"aws_cloudwatch_event_rule": "aws_tags",
	"aws_iam_instance_profile": "aws_tags",
	"aws_s3_bucket": "aws_tags",
	"aws_launch_template": "aws_tags",
	"aws_autoscaling_group": "asg_tags",
	"hcloud_network": "labels",
	"hcloud_firewall": "labels",
	"hcloud_placement_group": "labels",
	"hcloud_server": "labels",
	"hcloud_ssh_key": "labels",
	"google_storage_bucket": "gcp_labels",
	"google_compute_instance_template": "gcp_labels",
	"google_compute_region_instance_template": "gcp_labels",
}

tag_fixes := {
	"aws_tags": "set them in tags or in the aws provider default_tags",
	"asg_tags": "add tag blocks {key, value, propagate_at_launch = true} (provider default_tags do not reach ASG tags)",
	"labels": "set them in labels",
	"gcp_labels": "set them in labels or in the google provider default_labels",
}

tag_nouns := {"aws_tags": "tags", "asg_tags": "tags", "labels": "labels", "gcp_labels": "labels"}

required_tags := tf.limits.required_tags

non_empty(value) if trim_space(value) != ""

map_or_empty(x) := x if {
	is_object(x)
} else := {}

label_keys(body) := {key |
	some key, value in map_or_empty(object.get(body, "labels", {}))
	non_empty(value)
}

# Keys of the tags that apply to a resource and have a non-empty value.
tag_keys("aws_tags", body) := {key |
	some config in tf.provider_configs("aws", body)
	some defaults in tf.blocks(config, "default_tags")
	some key, value in map_or_empty(defaults.tags)
	non_empty(value)
} | {key | some key, value in map_or_empty(object.get(body, "tags", {})); non_empty(value)}

tag_keys("asg_tags", body) := {tag.key |
	some tag in tf.blocks(body, "tag")
	non_empty(tag.value)
}

tag_keys("labels", body) := label_keys(body)

tag_keys("gcp_labels", body) := {key |
	some config in tf.provider_configs("google", body)
	some key, value in map_or_empty(object.get(config, "default_labels", {}))
	non_empty(value)
} | label_keys(body)

deny contains msg if {
	some type, style in tag_styles
	some name, body in input.resource[type]
	present := tag_keys(style, body)
	missing := [key | some key in required_tags; not key in present]
	count(missing) > 0
	msg := sprintf("%s: missing required %s %s; %s", [tf.label(type, name), tag_nouns[style], concat(", ", missing), tag_fixes[style]])
}

# Fail closed when the limits document is not loaded.
deny contains msg if {
	not required_tags
	some type, _ in tag_styles
	some name, _ in input.resource[type]
	msg := sprintf("%s: required tags cannot be checked: data.spillway.limits.required_tags is not configured (load policies/data.json)", [tf.label(type, name)])
}
