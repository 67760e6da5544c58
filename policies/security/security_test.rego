package spillway.security_test

import data.spillway.security

# --- fixtures -----------------------------------------------------------------

tags := {"project": "spillway", "environment": "dev", "managed-by": "cdktf"}

aws_provider := {"aws": [{"region": "eu-central-1", "default_tags": [{"tags": tags}]}]}

meta(path) := {"metadata": {"path": path, "uniqueId": "x"}}

# A document with AWS resources whose tags come from the provider.
aws(resources) := {"provider": aws_provider, "resource": resources}

hcloud_firewall(rules) := {"resource": {"hcloud_firewall": {"nodes": {
	"labels": tags,
	"rule": rules,
	"//": meta("hetzner/firewall"),
}}}}

hcloud_rule(port, sources) := {"direction": "in", "protocol": "tcp", "port": port, "source_ips": sources}

sg_ingress(rules) := aws({"aws_security_group": {"nodes": {"ingress": rules}}})

gcp_firewall(firewall) := {"resource": {"google_compute_firewall": {"api": firewall}}}

bucket_ref := "${aws_s3_bucket.models.id}"

# One S3 bucket with every companion it needs; tests remove or override parts.
s3 := {
	"aws_s3_bucket": {"models": {"bucket": "spillway-models", "//": meta("aws-spot/models/bucket")}},
	"aws_s3_bucket_server_side_encryption_configuration": {"models_sse": {
		"bucket": bucket_ref,
		"rule": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}],
	}},
	"aws_s3_bucket_versioning": {"models_versioning": {
		"bucket": bucket_ref,
		"versioning_configuration": {"status": "Enabled"},
	}},
	"aws_s3_bucket_public_access_block": {"models_pab": {
		"bucket": bucket_ref,
		"block_public_acls": true,
		"block_public_policy": true,
		"ignore_public_acls": true,
		"restrict_public_buckets": true,
		"//": meta("aws-spot/models/public-access"),
	}},
}

gcs_bucket := {
	"labels": tags,
	"uniform_bucket_level_access": true,
	"public_access_prevention": "enforced",
	"versioning": {"enabled": true},
}

gcs(overrides) := {"resource": {"google_storage_bucket": {"models": object.union(gcs_bucket, overrides)}}}

iam_json(statements) := json.marshal({"Version": "2012-10-17", "Statement": statements})

role_policy(policy) := aws({"aws_iam_role_policy": {"read": {"role": "${aws_iam_role.nodes.id}", "policy": policy}}})

policy_document(statements) := {"data": {"aws_iam_policy_document": {"doc": {"statement": statements}}}}

mentions(msgs, fragments) if {
	some msg in msgs
	every fragment in fragments {
		contains(msg, fragment)
	}
}

# --- general ------------------------------------------------------------------

test_empty_input_allowed if {
	count(security.deny) == 0 with input as {}
}

test_empty_resource_map_allowed if {
	count(security.deny) == 0 with input as {"resource": {}, "data": {}, "provider": {}}
}

# --- 1. world-open admin ports ----------------------------------------------

test_hcloud_ssh_from_admin_cidr_allowed if {
	count(security.deny) == 0 with input as hcloud_firewall([hcloud_rule("22", ["203.0.113.0/24"])])
}

test_hcloud_https_from_world_allowed if {
	count(security.deny) == 0 with input as hcloud_firewall([hcloud_rule("443", ["0.0.0.0/0", "::/0"])])
}

test_hcloud_ssh_from_world_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("22", ["0.0.0.0/0"])])
	msgs == {"hcloud_firewall.nodes (hetzner/firewall): inbound rule tcp port 22 is open to 0.0.0.0/0, exposing SSH (port 22); restrict the source to admin/VPN or private CIDRs"}
}

test_hcloud_k8s_api_from_world_ipv6_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("6443", ["::/0"])])
	mentions(msgs, ["hcloud_firewall.nodes", "::/0", "port 6443"])
}

test_hcloud_port_any_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("any", ["0.0.0.0/0"])])
	mentions(msgs, ["port 22"])
	mentions(msgs, ["port 6443"])
}

test_hcloud_port_range_covering_api_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("6000-7000", ["0.0.0.0/0"])])
	mentions(msgs, ["port 6000-7000", "port 6443"])
}

test_hcloud_port_range_full_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("1-65535", ["0.0.0.0/0"])])
	count(msgs) == 2
}

test_hcloud_port_range_elsewhere_allowed if {
	count(security.deny) == 0 with input as hcloud_firewall([hcloud_rule("80-85", ["0.0.0.0/0"])])
}

test_hcloud_interpolated_port_denied if {
	msgs := security.deny with input as hcloud_firewall([hcloud_rule("${var.port}", ["0.0.0.0/0"])])
	mentions(msgs, ["port 22"])
}

test_hcloud_rule_as_single_object_denied if {
	msgs := security.deny with input as hcloud_firewall(hcloud_rule("22", ["0.0.0.0/0"]))
	mentions(msgs, ["hcloud_firewall.nodes", "port 22"])
}

test_hcloud_outbound_and_icmp_allowed if {
	count(security.deny) == 0 with input as hcloud_firewall([
		{"direction": "out", "protocol": "tcp", "port": "any", "destination_ips": ["0.0.0.0/0"]},
		{"direction": "in", "protocol": "icmp", "source_ips": ["0.0.0.0/0"]},
		{"direction": "in", "protocol": "udp", "port": "22", "source_ips": ["0.0.0.0/0"]},
	])
}

test_aws_sg_inline_https_and_egress_allowed if {
	doc := aws({"aws_security_group": {"nodes": {
		"ingress": [{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}],
		"egress": [{"from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}],
	}}})
	count(security.deny) == 0 with input as doc
}

test_aws_sg_inline_ssh_from_world_denied if {
	msgs := security.deny with input as sg_ingress([{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}])
	msgs == {"aws_security_group.nodes: ingress tcp ports 22-22 is open to 0.0.0.0/0, exposing SSH (port 22); restrict the source to admin/VPN or private CIDRs"}
}

test_aws_sg_inline_all_traffic_denied if {
	msgs := security.deny with input as sg_ingress([{"from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}])
	mentions(msgs, ["protocol -1 (all traffic)", "port 22"])
	mentions(msgs, ["protocol -1 (all traffic)", "port 6443"])
}

test_aws_sg_inline_full_range_ipv6_denied if {
	msgs := security.deny with input as sg_ingress([{"from_port": 1, "to_port": 65535, "protocol": "tcp", "ipv6_cidr_blocks": ["::/0"]}])
	mentions(msgs, ["::/0", "port 6443"])
}

test_aws_sg_inline_private_api_allowed if {
	count(security.deny) == 0 with input as sg_ingress([{"from_port": 6443, "to_port": 6443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/16"]}])
}

test_aws_sg_inline_ingress_as_object_denied if {
	msgs := security.deny with input as sg_ingress({"from_port": 6443, "to_port": 6443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]})
	mentions(msgs, ["aws_security_group.nodes", "port 6443"])
}

test_aws_security_group_rule_legacy_denied if {
	doc := {"resource": {"aws_security_group_rule": {"ssh": {
		"type": "ingress", "from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"],
	}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["aws_security_group_rule.ssh", "port 22"])
}

test_aws_ingress_rule_all_traffic_ipv6_denied if {
	doc := {"resource": {"aws_vpc_security_group_ingress_rule": {"all": {"ip_protocol": "-1", "cidr_ipv6": "::/0", "//": meta("aws-spot/network/all")}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["aws_vpc_security_group_ingress_rule.all (aws-spot/network/all)", "::/0", "port 22"])
}

test_aws_ingress_rule_api_from_world_denied if {
	doc := {"resource": {"aws_vpc_security_group_ingress_rule": {"api": {"ip_protocol": "tcp", "from_port": 6443, "to_port": 6443, "cidr_ipv4": "0.0.0.0/0"}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["aws_vpc_security_group_ingress_rule.api", "port 6443"])
}

test_aws_ingress_rule_private_allowed if {
	doc := {"resource": {"aws_vpc_security_group_ingress_rule": {"api": {"ip_protocol": "tcp", "from_port": 6443, "to_port": 6443, "cidr_ipv4": "10.0.0.0/16"}}}}
	count(security.deny) == 0 with input as doc
}

test_aws_ingress_rule_https_world_allowed if {
	doc := {"resource": {"aws_vpc_security_group_ingress_rule": {"https": {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "0.0.0.0/0"}}}}
	count(security.deny) == 0 with input as doc
}

test_gcp_firewall_private_allowed if {
	doc := gcp_firewall({"direction": "INGRESS", "source_ranges": ["10.10.0.0/16"], "allow": [{"protocol": "tcp", "ports": ["22", "6443"]}]})
	count(security.deny) == 0 with input as doc
}

test_gcp_firewall_ssh_from_world_denied if {
	doc := gcp_firewall({"direction": "INGRESS", "source_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "tcp", "ports": ["22"]}]})
	msgs := security.deny with input as doc
	mentions(msgs, ["google_compute_firewall.api", "port 22"])
}

test_gcp_firewall_no_ports_means_all_denied if {
	doc := gcp_firewall({"source_ranges": ["0.0.0.0/0"], "allow": {"protocol": "tcp"}})
	msgs := security.deny with input as doc
	mentions(msgs, ["ports (all)", "port 6443"])
}

test_gcp_firewall_range_denied if {
	doc := gcp_firewall({"source_ranges": ["::/0"], "allow": [{"protocol": "all"}, {"protocol": "tcp", "ports": ["1000-7000"]}]})
	msgs := security.deny with input as doc
	mentions(msgs, ["ports 1000-7000", "port 6443"])
}

test_gcp_firewall_no_source_filter_denied if {
	doc := gcp_firewall({"allow": [{"protocol": "tcp", "ports": ["22"]}]})
	msgs := security.deny with input as doc
	mentions(msgs, ["0.0.0.0/0", "port 22"])
}

test_gcp_firewall_source_tags_allowed if {
	doc := gcp_firewall({"source_tags": ["bastion"], "allow": [{"protocol": "tcp", "ports": ["22"]}]})
	count(security.deny) == 0 with input as doc
}

test_gcp_firewall_egress_allowed if {
	doc := gcp_firewall({"direction": "EGRESS", "destination_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "all"}]})
	count(security.deny) == 0 with input as doc
}

test_gcp_firewall_https_world_allowed if {
	doc := gcp_firewall({"source_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "tcp", "ports": ["80", "443"]}]})
	count(security.deny) == 0 with input as doc
}

# --- 2. buckets ---------------------------------------------------------------

test_s3_bucket_fully_configured_allowed if {
	count(security.deny) == 0 with input as aws(s3)
}

test_s3_companions_by_literal_name_allowed if {
	resources := object.union(s3, {
		"aws_s3_bucket_server_side_encryption_configuration": {"models_sse": {"bucket": "spillway-models"}},
		"aws_s3_bucket_versioning": {"models_versioning": {"bucket": "${aws_s3_bucket.models.bucket}"}},
	})
	count(security.deny) == 0 with input as aws(resources)
}

test_s3_bucket_without_encryption_denied if {
	msgs := security.deny with input as aws(object.remove(s3, ["aws_s3_bucket_server_side_encryption_configuration"]))
	mentions(msgs, ["aws_s3_bucket.models (aws-spot/models/bucket): bucket is not encrypted"])
}

test_s3_encryption_without_algorithm_denied if {
	resources := object.union(s3, {"aws_s3_bucket_server_side_encryption_configuration": {"models_sse": {"rule": {"bucket_key_enabled": true}}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket_server_side_encryption_configuration.models_sse", "sse_algorithm"])
}

test_s3_companion_for_other_bucket_denied if {
	resources := object.union(s3, {"aws_s3_bucket_server_side_encryption_configuration": {"models_sse": {"bucket": "${aws_s3_bucket.logs.id}"}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket.models", "not encrypted"])
}

test_s3_bucket_without_versioning_denied if {
	msgs := security.deny with input as aws(object.remove(s3, ["aws_s3_bucket_versioning"]))
	mentions(msgs, ["aws_s3_bucket.models", "not versioned"])
}

test_s3_versioning_suspended_denied if {
	resources := object.union(s3, {"aws_s3_bucket_versioning": {"models_versioning": {"versioning_configuration": [{"status": "Suspended"}]}}})
	msgs := security.deny with input as aws(resources)
	msgs == {"aws_s3_bucket_versioning.models_versioning: versioning_configuration.status must be \"Enabled\""}
}

test_s3_bucket_without_public_access_block_denied if {
	msgs := security.deny with input as aws(object.remove(s3, ["aws_s3_bucket_public_access_block"]))
	mentions(msgs, ["aws_s3_bucket.models", "no aws_s3_bucket_public_access_block"])
}

test_s3_public_access_block_flag_false_denied if {
	resources := object.union(s3, {"aws_s3_bucket_public_access_block": {"models_pab": {"block_public_acls": false}}})
	msgs := security.deny with input as aws(resources)
	msgs == {"aws_s3_bucket_public_access_block.models_pab (aws-spot/models/public-access): block_public_acls must be true"}
}

test_s3_public_access_block_flag_missing_or_interpolated_denied if {
	pab := object.remove(s3.aws_s3_bucket_public_access_block.models_pab, ["restrict_public_buckets"])
	resources := object.union(object.remove(s3, ["aws_s3_bucket_public_access_block"]), {"aws_s3_bucket_public_access_block": {"models_pab": object.union(pab, {"ignore_public_acls": "${var.flag}"})}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["restrict_public_buckets must be true"])
	mentions(msgs, ["ignore_public_acls must be true"])
}

test_s3_acl_private_allowed if {
	resources := object.union(s3, {"aws_s3_bucket_acl": {"models": {"bucket": bucket_ref, "acl": "private"}}})
	count(security.deny) == 0 with input as aws(resources)
}

test_s3_acl_public_read_denied if {
	resources := object.union(s3, {"aws_s3_bucket_acl": {"models": {"bucket": bucket_ref, "acl": "public-read-write"}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket_acl.models", "public-read-write"])
}

test_s3_acl_all_users_grant_denied if {
	grant := {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}, "permission": "READ"}
	resources := object.union(s3, {"aws_s3_bucket_acl": {"models": {"bucket": bucket_ref, "access_control_policy": {"grant": [grant]}}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket_acl.models", "AllUsers"])
}

test_s3_bucket_policy_public_json_denied if {
	policy := iam_json([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "${aws_s3_bucket.models.arn}/*"}])
	resources := object.union(s3, {"aws_s3_bucket_policy": {"models": {"bucket": bucket_ref, "policy": policy}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket_policy.models", "Principal \"*\""])
}

test_s3_bucket_policy_public_document_denied if {
	doc := object.union(aws(object.union(s3, {"aws_s3_bucket_policy": {"models": {"bucket": bucket_ref, "policy": "${data.aws_iam_policy_document.doc.json}"}}})), policy_document([{
		"actions": ["s3:GetObject"],
		"resources": ["${aws_s3_bucket.models.arn}/*"],
		"principals": [{"type": "AWS", "identifiers": ["*"]}],
	}]))
	msgs := security.deny with input as doc
	mentions(msgs, ["aws_s3_bucket_policy.models", "Principal \"*\""])
}

test_s3_bucket_policy_deny_everyone_allowed if {
	policy := iam_json([{
		"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
		"Resource": ["${aws_s3_bucket.models.arn}", "${aws_s3_bucket.models.arn}/*"],
		"Condition": {"Bool": {"aws:SecureTransport": "false"}},
	}])
	resources := object.union(s3, {"aws_s3_bucket_policy": {"models": {"bucket": bucket_ref, "policy": policy}}})
	count(security.deny) == 0 with input as aws(resources)
}

test_s3_bucket_policy_specific_principal_allowed if {
	policy := iam_json([{"Effect": "Allow", "Principal": {"AWS": ["${aws_iam_role.nodes.arn}"]}, "Action": ["s3:GetObject"], "Resource": "${aws_s3_bucket.models.arn}/*"}])
	resources := object.union(s3, {"aws_s3_bucket_policy": {"models": {"bucket": bucket_ref, "policy": policy}}})
	count(security.deny) == 0 with input as aws(resources)
}

test_s3_bucket_policy_unparseable_denied if {
	resources := object.union(s3, {"aws_s3_bucket_policy": {"models": {"bucket": bucket_ref, "policy": "${jsonencode(local.policy)}"}}})
	msgs := security.deny with input as aws(resources)
	mentions(msgs, ["aws_s3_bucket_policy.models", "cannot be checked"])
}

test_gcs_bucket_compliant_allowed if {
	count(security.deny) == 0 with input as gcs({})
}

test_gcs_versioning_as_list_allowed if {
	count(security.deny) == 0 with input as gcs({"versioning": [{"enabled": true}]})
}

test_gcs_uniform_access_missing_denied if {
	msgs := security.deny with input as gcs({"uniform_bucket_level_access": false})
	msgs == {"google_storage_bucket.models: uniform_bucket_level_access must be true (object ACLs can make objects public)"}
}

test_gcs_public_access_prevention_inherited_denied if {
	msgs := security.deny with input as gcs({"public_access_prevention": "inherited"})
	mentions(msgs, ["google_storage_bucket.models", "public_access_prevention"])
}

test_gcs_versioning_disabled_denied if {
	msgs := security.deny with input as gcs({"versioning": {"enabled": false}})
	mentions(msgs, ["google_storage_bucket.models", "versioning.enabled"])
}

test_gcs_iam_member_all_users_denied if {
	doc := {"resource": {"google_storage_bucket_iam_member": {"public": {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["google_storage_bucket_iam_member.public", "allUsers"])
}

test_gcs_iam_binding_all_authenticated_users_denied if {
	doc := {"resource": {"google_storage_bucket_iam_binding": {"readers": {"bucket": "b", "role": "roles/storage.objectViewer", "members": ["serviceAccount:x@p.iam.gserviceaccount.com", "allAuthenticatedUsers"]}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["google_storage_bucket_iam_binding.readers", "allAuthenticatedUsers"])
}

test_gcs_iam_member_service_account_allowed if {
	doc := {"resource": {"google_storage_bucket_iam_member": {"reader": {"bucket": "b", "role": "roles/storage.objectViewer", "member": "serviceAccount:${google_service_account.nodes.email}"}}}}
	count(security.deny) == 0 with input as doc
}

# --- 3. IAM -------------------------------------------------------------------

test_iam_role_policy_specific_allowed if {
	policy := iam_json([{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["${aws_s3_bucket.models.arn}", "${aws_s3_bucket.models.arn}/*"]}])
	count(security.deny) == 0 with input as role_policy(policy)
}

test_iam_prefix_wildcard_action_allowed if {
	policy := iam_json([{"Effect": "Allow", "Action": "s3:Get*", "Resource": "${aws_s3_bucket.models.arn}/*"}])
	count(security.deny) == 0 with input as role_policy(policy)
}

test_iam_role_policy_service_wildcard_denied if {
	policy := iam_json([{"Effect": "Allow", "Action": ["s3:*"], "Resource": "${aws_s3_bucket.models.arn}/*"}])
	msgs := security.deny with input as role_policy(policy)
	msgs == {"aws_iam_role_policy.read: action \"s3:*\" is a wildcard; list the specific actions and resource ARNs the workload needs"}
}

test_iam_policy_star_action_denied if {
	policy := iam_json({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::spillway-models"})
	msgs := security.deny with input as aws({"aws_iam_policy": {"all": {"policy": policy}}})
	mentions(msgs, ["aws_iam_policy.all", "action \"*\""])
}

test_iam_policy_star_resource_denied if {
	policy := iam_json([{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}])
	msgs := security.deny with input as aws({"aws_iam_user_policy": {"ci": {"policy": policy}}})
	mentions(msgs, ["aws_iam_user_policy.ci", "resource \"*\""])
}

test_iam_star_resource_allowed_for_unscoped_describe_only if {
	policy := iam_json([{"Effect": "Allow", "Action": "autoscaling:DescribeAutoScalingGroups", "Resource": "*"}])
	msgs := security.deny with input as aws({"aws_iam_policy": {"op": {"policy": policy}}})
	count(msgs) == 0
}

test_iam_star_resource_denied_when_mixed_with_scoped_actions if {
	policy := iam_json([{"Effect": "Allow", "Action": ["autoscaling:DescribeAutoScalingGroups", "autoscaling:SetDesiredCapacity"], "Resource": "*"}])
	msgs := security.deny with input as aws({"aws_iam_policy": {"op": {"policy": policy}}})
	mentions(msgs, ["aws_iam_policy.op", "resource \"*\""])
}

test_iam_deny_statement_with_wildcards_allowed if {
	policy := iam_json([
		{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "${aws_s3_bucket.models.arn}/*"},
	])
	count(security.deny) == 0 with input as role_policy(policy)
}

test_iam_not_action_denied if {
	policy := iam_json([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "${aws_s3_bucket.models.arn}"}])
	msgs := security.deny with input as role_policy(policy)
	mentions(msgs, ["aws_iam_role_policy.read", "NotAction"])
}

test_iam_unparseable_policy_denied if {
	msgs := security.deny with input as role_policy("${jsonencode(local.policy)}")
	mentions(msgs, ["aws_iam_role_policy.read", "cannot be checked"])
}

test_iam_inline_role_policy_wildcard_denied if {
	policy := iam_json([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
	msgs := security.deny with input as aws({"aws_iam_role": {"nodes": {"assume_role_policy": "{}", "inline_policy": {"name": "all", "policy": policy}}}})
	mentions(msgs, ["aws_iam_role.nodes: inline_policy all", "action \"*\""])
}

test_iam_policy_document_wildcard_action_denied if {
	doc := policy_document([{"effect": "Allow", "actions": ["ec2:*"], "resources": ["arn:aws:ec2:*:*:instance/*"]}])
	msgs := security.deny with input as doc
	msgs == {"data.aws_iam_policy_document.doc: action \"ec2:*\" is a wildcard; list the specific actions and resource ARNs the workload needs"}
}

test_iam_policy_document_default_effect_is_allow_denied if {
	doc := policy_document({"actions": ["s3:GetObject"], "resources": ["*"]})
	msgs := security.deny with input as doc
	mentions(msgs, ["data.aws_iam_policy_document.doc", "resource \"*\""])
}

test_iam_trust_document_allowed if {
	doc := policy_document([{"actions": ["sts:AssumeRole"], "principals": [{"type": "Service", "identifiers": ["ec2.amazonaws.com"]}]}])
	count(security.deny) == 0 with input as doc
}

# Key and bucket policies name principals and are scoped by the resource they
# are attached to; KMS key policies always use Resource "*".
test_iam_resource_policy_star_resource_allowed if {
	doc := policy_document([{
		"actions": ["kms:Decrypt"],
		"resources": ["*"],
		"principals": [{"type": "AWS", "identifiers": ["${aws_iam_role.nodes.arn}"]}],
	}])
	count(security.deny) == 0 with input as doc
}

test_iam_role_policy_via_document_reported_once if {
	doc := object.union(
		role_policy("${data.aws_iam_policy_document.doc.json}"),
		policy_document([{"actions": ["s3:*"], "resources": ["${aws_s3_bucket.models.arn}"]}]),
	)
	msgs := security.deny with input as doc
	count(msgs) == 1
	mentions(msgs, ["data.aws_iam_policy_document.doc", "s3:*"])
}

test_gcp_project_role_narrow_allowed if {
	doc := {"resource": {"google_project_iam_member": {"logs": {"role": "roles/logging.logWriter", "member": "serviceAccount:n@p.iam.gserviceaccount.com"}}}}
	count(security.deny) == 0 with input as doc
}

test_gcp_object_admin_role_allowed if {
	doc := {"resource": {"google_project_iam_member": {"objects": {"role": "roles/storage.objectAdmin", "member": "serviceAccount:n@p.iam.gserviceaccount.com"}}}}
	count(security.deny) == 0 with input as doc
}

test_gcp_project_owner_denied if {
	doc := {"resource": {"google_project_iam_member": {"owner": {"role": "roles/owner", "member": "serviceAccount:n@p.iam.gserviceaccount.com"}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["google_project_iam_member.owner", "roles/owner"])
}

test_gcp_project_admin_binding_denied if {
	doc := {"resource": {"google_project_iam_binding": {"storage": {"role": "roles/storage.admin", "members": ["serviceAccount:n@p.iam.gserviceaccount.com"]}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["google_project_iam_binding.storage", "roles/storage.admin"])
}

# --- 4. tags and labels -------------------------------------------------------

test_tags_from_provider_default_tags_allowed if {
	count(security.deny) == 0 with input as aws({"aws_vpc": {"main": {"cidr_block": "10.0.0.0/16"}}})
}

test_tags_on_resource_allowed if {
	count(security.deny) == 0 with input as {"resource": {"aws_vpc": {"main": {"tags": tags}}}}
}

test_tags_merged_from_provider_and_resource_allowed if {
	doc := {
		"provider": {"aws": [{"default_tags": {"tags": {"project": "spillway", "managed-by": "cdktf"}}}]},
		"resource": {"aws_subnet": {"a": {"tags": {"environment": "dev"}}}},
	}
	count(security.deny) == 0 with input as doc
}

test_tags_missing_denied if {
	doc := {"resource": {"aws_vpc": {"main": {"tags": {"project": "spillway"}, "//": meta("aws-spot/network/vpc")}}}}
	msgs := security.deny with input as doc
	msgs == {"aws_vpc.main (aws-spot/network/vpc): missing required tags environment, managed-by; set them in tags or in the aws provider default_tags"}
}

test_tags_empty_value_denied if {
	doc := {"resource": {"aws_s3_bucket": {"b": {"tags": object.union(tags, {"environment": " "})}}}}
	msgs := security.deny with input as doc
	mentions(msgs, ["aws_s3_bucket.b", "missing required tags environment"])
}

test_tags_from_aliased_provider_only_denied if {
	doc := {
		"provider": {"aws": [{"region": "eu-central-1"}, {"alias": "us", "region": "us-east-1", "default_tags": [{"tags": tags}]}]},
		"resource": {"aws_vpc": {"eu": {}, "us": {"provider": "aws.us"}}},
	}
	msgs := security.deny with input as doc
	count(msgs) == 1
	mentions(msgs, ["aws_vpc.eu:", "missing required tags"])
}

test_asg_tag_blocks_allowed if {
	blocks := [{"key": k, "value": v, "propagate_at_launch": true} | some k, v in tags]
	count(security.deny) == 0 with input as {"resource": {"aws_autoscaling_group": {"burst": {"tag": blocks}}}}
}

test_asg_provider_default_tags_do_not_count_denied if {
	msgs := security.deny with input as aws({"aws_autoscaling_group": {"burst": {"tag": {"key": "project", "value": "spillway"}}}})
	mentions(msgs, ["aws_autoscaling_group.burst", "environment, managed-by", "tag blocks"])
}

test_hcloud_labels_allowed if {
	count(security.deny) == 0 with input as {"resource": {"hcloud_server": {"cp": {"labels": tags}}, "hcloud_ssh_key": {"admin": {"labels": tags}}}}
}

test_hcloud_labels_missing_denied if {
	msgs := security.deny with input as {"resource": {"hcloud_placement_group": {"spread": {"labels": {"project": "spillway"}}}}}
	msgs == {"hcloud_placement_group.spread: missing required labels environment, managed-by; set them in labels"}
}

test_gcp_default_labels_allowed if {
	doc := {"provider": {"google": [{"default_labels": tags}]}, "resource": {"google_compute_instance_template": {"burst": {}}}}
	count(security.deny) == 0 with input as doc
}

test_gcp_labels_missing_denied if {
	msgs := security.deny with input as {"resource": {"google_compute_instance_template": {"burst": {"labels": {"project": "spillway"}}}}}
	mentions(msgs, ["google_compute_instance_template.burst", "missing required labels environment, managed-by", "default_labels"])
}

test_untaggable_types_ignored_allowed if {
	count(security.deny) == 0 with input as {"resource": {"hcloud_network_subnet": {"nodes": {}}, "aws_route_table_association": {"a": {}}}}
}

test_required_tags_override if {
	doc := {"resource": {"aws_vpc": {"main": {"tags": tags}}}}
	msgs := security.deny with input as doc with data.spillway.limits_override as {"required_tags": ["owner"]}
	mentions(msgs, ["aws_vpc.main", "missing required tags owner"])
}

test_required_tags_not_configured_fails_closed if {
	doc := {"resource": {"aws_vpc": {"main": {"tags": tags}}}}
	msgs := security.deny with input as doc with data.spillway.limits as {}
	mentions(msgs, ["aws_vpc.main", "required_tags is not configured"])
}

# --- samples (policies/security/samples/<case>/cdk.tf.json) -----------------------

test_sample_allowed if {
	count(security.deny) == 0 with input as data.security.samples.allowed
}

test_sample_denied_open_admin_ports if {
	msgs := security.deny with input as data.security.samples["denied-open-admin-ports"]
	count(msgs) == 5
	mentions(msgs, ["hcloud_firewall.nodes (hetzner/firewall)", "port 22"])
	mentions(msgs, ["aws_vpc_security_group_ingress_rule.all (aws-spot/network/all-v6)", "::/0"])
	mentions(msgs, ["google_compute_firewall.wide (gcp-spot/network/wide)", "port 6443"])
}

test_sample_denied_public_bucket if {
	msgs := security.deny with input as data.security.samples["denied-public-bucket"]
	count(msgs) == 5
	"aws_s3_bucket_public_access_block.models_pab (aws-spot/models/public-access): block_public_policy must be true" in msgs
	mentions(msgs, ["aws_s3_bucket_acl.models", "public-read"])
	mentions(msgs, ["aws_s3_bucket.models", "not versioned"])
	mentions(msgs, ["google_storage_bucket_iam_member.public", "allUsers"])
}

test_sample_denied_wildcard_iam if {
	msgs := security.deny with input as data.security.samples["denied-wildcard-iam"]
	count(msgs) == 3
	mentions(msgs, ["aws_iam_role_policy.admin (aws-spot/nodes/admin)", "s3:*"])
	mentions(msgs, ["google_project_iam_member.nodes_editor", "roles/editor"])
}

test_sample_denied_missing_tags if {
	msgs := security.deny with input as data.security.samples["denied-missing-tags"]
	msgs == {
		"aws_vpc.main (aws-spot/network/vpc): missing required tags managed-by; set them in tags or in the aws provider default_tags",
		"hcloud_server.control (hetzner/control-plane): missing required labels environment; set them in labels",
	}
}
