package spillway.cost_test

import data.spillway.cost

# --- fixtures -----------------------------------------------------------------

meta(path) := {"metadata": {"path": path, "uniqueId": "x"}}

spot_distribution := {
	"on_demand_base_capacity": 0,
	"on_demand_percentage_above_base_capacity": 0,
	"spot_allocation_strategy": "price-capacity-optimized",
}

# A spot ASG with a mixed_instances_policy; tests override parts of it.
asg := {
	"min_size": 0,
	"max_size": 10,
	"capacity_rebalance": true,
	"mixed_instances_policy": {
		"instances_distribution": spot_distribution,
		"launch_template": {
			"launch_template_specification": {"launch_template_id": "${aws_launch_template.burst.id}", "version": "$Latest"},
			"override": [{"instance_type": "g5.xlarge"}, {"instance_type": "g6.xlarge"}],
		},
	},
	"//": meta("aws-spot/burst/asg"),
}

asg_doc(group) := {"resource": {"aws_autoscaling_group": {"burst": group}}}

with_distribution(distribution) := asg_doc(json.patch(asg, [{"op": "replace", "path": "/mixed_instances_policy/instances_distribution", "value": distribution}]))

# An ASG without mixed_instances_policy, launching the given launch template.
plain_asg_doc(template) := {"resource": {
	"aws_launch_template": {"cpu": template},
	"aws_autoscaling_group": {"cpu": {"min_size": 0, "max_size": 4, "launch_template": {"id": "${aws_launch_template.cpu.id}", "version": "$Latest"}}},
}}

spot_scheduling := {"provisioning_model": "SPOT", "preemptible": true, "automatic_restart": false, "on_host_maintenance": "TERMINATE"}

gcp_template(overrides) := {"resource": {"google_compute_instance_template": {"burst": object.union(
	{"machine_type": "g2-standard-8", "scheduling": spot_scheduling, "//": meta("gcp-spot/burst/template")},
	overrides,
)}}}

bucket_ref := "${aws_s3_bucket.models.id}"

s3(lifecycle) := {"resource": {
	"aws_s3_bucket": {"models": {"bucket": "spillway-models", "//": meta("aws-spot/models/bucket")}},
	"aws_s3_bucket_lifecycle_configuration": {"models": lifecycle},
}}

expire_rule := {"id": "expire-noncurrent", "status": "Enabled", "noncurrent_version_expiration": {"noncurrent_days": 30}}

mentions(msgs, fragments) if {
	some msg in msgs
	every fragment in fragments {
		contains(msg, fragment)
	}
}

# --- general ------------------------------------------------------------------

test_empty_input_allowed if {
	count(cost.deny) == 0 with input as {}
}

test_empty_resource_map_allowed if {
	count(cost.deny) == 0 with input as {"resource": {}}
}

# --- 1. spot / preemptible ----------------------------------------------------

test_asg_all_spot_allowed if {
	count(cost.deny) == 0 with input as asg_doc(asg)
}

test_asg_blocks_as_lists_allowed if {
	group := json.patch(asg, [{"op": "replace", "path": "/mixed_instances_policy", "value": [{
		"instances_distribution": [spot_distribution],
		"launch_template": [asg.mixed_instances_policy.launch_template],
	}]}])
	count(cost.deny) == 0 with input as asg_doc(group)
}

test_asg_base_capacity_absent_allowed if {
	count(cost.deny) == 0 with input as with_distribution({"on_demand_percentage_above_base_capacity": 0})
}

test_asg_on_demand_base_capacity_denied if {
	msgs := cost.deny with input as with_distribution(object.union(spot_distribution, {"on_demand_base_capacity": 2}))
	msgs == {"aws_autoscaling_group.burst (aws-spot/burst/asg): on_demand_base_capacity is 2; set it to 0 so burst nodes are all spot"}
}

test_asg_on_demand_percentage_missing_denied if {
	msgs := cost.deny with input as with_distribution({"on_demand_base_capacity": 0})
	msgs == {"aws_autoscaling_group.burst (aws-spot/burst/asg): on_demand_percentage_above_base_capacity is unset (AWS default 100); set it to 0 so burst nodes are all spot"}
}

test_asg_on_demand_percentage_nonzero_denied if {
	msgs := cost.deny with input as with_distribution(object.union(spot_distribution, {"on_demand_percentage_above_base_capacity": 50}))
	mentions(msgs, ["aws_autoscaling_group.burst", "on_demand_percentage_above_base_capacity is 50"])
}

test_asg_without_instances_distribution_denied if {
	group := json.patch(asg, [{"op": "remove", "path": "/mixed_instances_policy/instances_distribution"}])
	msgs := cost.deny with input as asg_doc(group)
	mentions(msgs, ["on_demand_percentage_above_base_capacity is unset"])
}

test_asg_spot_launch_template_allowed if {
	template := {"instance_type": "c7i.2xlarge", "instance_market_options": {"market_type": "spot"}}
	count(cost.deny) == 0 with input as plain_asg_doc(template)
}

test_asg_spot_launch_template_as_list_allowed if {
	template := {"instance_type": "c7i.2xlarge", "instance_market_options": [{"market_type": "spot", "spot_options": [{"spot_instance_type": "one-time"}]}]}
	count(cost.deny) == 0 with input as plain_asg_doc(template)
}

test_asg_on_demand_launch_template_denied if {
	msgs := cost.deny with input as plain_asg_doc({"instance_type": "c7i.2xlarge"})
	mentions(msgs, ["aws_autoscaling_group.cpu", "no mixed_instances_policy", "market_type = \"spot\""])
}

test_asg_launch_template_other_market_denied if {
	template := {"instance_type": "c7i.2xlarge", "instance_market_options": {"market_type": "capacity-block"}}
	msgs := cost.deny with input as plain_asg_doc(template)
	mentions(msgs, ["aws_autoscaling_group.cpu", "no mixed_instances_policy"])
}

test_asg_unresolvable_launch_template_denied if {
	doc := {"resource": {"aws_autoscaling_group": {"cpu": {"max_size": 4, "launch_template": {"id": "${var.launch_template_id}"}}}}}
	msgs := cost.deny with input as doc
	mentions(msgs, ["aws_autoscaling_group.cpu", "no mixed_instances_policy"])
}

test_gcp_template_spot_allowed if {
	count(cost.deny) == 0 with input as gcp_template({"scheduling": {"provisioning_model": "SPOT"}})
}

test_gcp_template_preemptible_list_allowed if {
	count(cost.deny) == 0 with input as gcp_template({"scheduling": [{"preemptible": true, "automatic_restart": false}]})
}

test_gcp_template_standard_denied if {
	msgs := cost.deny with input as gcp_template({"scheduling": {"provisioning_model": "STANDARD", "preemptible": false}})
	msgs == {"google_compute_instance_template.burst (gcp-spot/burst/template): scheduling must set provisioning_model = \"SPOT\" (or preemptible = true) for burst pools"}
}

test_gcp_template_without_scheduling_denied if {
	doc := {"resource": {"google_compute_region_instance_template": {"burst": {"machine_type": "g2-standard-8"}}}}
	msgs := cost.deny with input as doc
	mentions(msgs, ["google_compute_region_instance_template.burst", "SPOT"])
}

# --- 2. node cap -------------------------------------------------------------

test_asg_max_at_cap_allowed if {
	count(cost.deny) == 0 with input as asg_doc(object.union(asg, {"max_size": 20}))
}

test_asg_max_over_cap_denied if {
	msgs := cost.deny with input as asg_doc(object.union(asg, {"max_size": 21}))
	msgs == {"aws_autoscaling_group.burst (aws-spot/burst/asg): max_size is 21, above the cap of 20 nodes per pool (data.spillway.limits.max_nodes_per_pool); lower it or raise the cap"}
}

test_asg_max_interpolated_denied if {
	msgs := cost.deny with input as asg_doc(object.union(asg, {"max_size": "${var.max_nodes}"}))
	mentions(msgs, ["aws_autoscaling_group.burst", "max_size is ${var.max_nodes}", "cannot be checked"])
}

test_autoscaler_within_cap_allowed if {
	doc := {"resource": {"google_compute_region_autoscaler": {"burst": {"autoscaling_policy": {"min_replicas": 0, "max_replicas": 8}}}}}
	count(cost.deny) == 0 with input as doc
}

test_autoscaler_over_cap_denied if {
	doc := {"resource": {"google_compute_region_autoscaler": {"burst": {"autoscaling_policy": [{"max_replicas": 64}]}}}}
	msgs := cost.deny with input as doc
	mentions(msgs, ["google_compute_region_autoscaler.burst", "autoscaling_policy.max_replicas is 64"])
}

test_mig_target_size_over_cap_denied if {
	doc := {"resource": {"google_compute_region_instance_group_manager": {"burst": {"target_size": 30}}}}
	msgs := cost.deny with input as doc
	mentions(msgs, ["google_compute_region_instance_group_manager.burst", "target_size is 30"])
}

test_mig_without_target_size_allowed if {
	doc := {"resource": {"google_compute_region_instance_group_manager": {"burst": {"version": [{"instance_template": "${google_compute_instance_template.burst.id}"}]}}}}
	count(cost.deny) == 0 with input as doc
}

test_cap_override if {
	msgs := cost.deny with input as asg_doc(asg) with data.spillway.limits_override as {"max_nodes_per_pool": 5}
	mentions(msgs, ["max_size is 10, above the cap of 5"])
}

test_cap_not_configured_fails_closed if {
	msgs := cost.deny with input as asg_doc(asg) with data.spillway.limits as {"instance_types": {"aws": ["g5.xlarge", "g6.xlarge"]}}
	msgs == {"aws_autoscaling_group.burst (aws-spot/burst/asg): max_size cannot be checked: data.spillway.limits.max_nodes_per_pool is not configured (load policies/data.json)"}
}

# --- 3. instance type allow-list ---------------------------------------------

test_asg_override_type_denied if {
	group := json.patch(asg, [{"op": "add", "path": "/mixed_instances_policy/launch_template/override/-", "value": {"instance_type": "p4d.24xlarge"}}])
	msgs := cost.deny with input as asg_doc(group)
	count(msgs) == 1
	mentions(msgs, ["aws_autoscaling_group.burst (aws-spot/burst/asg): mixed_instances_policy override instance_type \"p4d.24xlarge\" is not in the aws allow-list"])
}

test_asg_override_single_object_denied if {
	group := json.patch(asg, [{"op": "replace", "path": "/mixed_instances_policy/launch_template/override", "value": {"instance_type": "t3.micro"}}])
	msgs := cost.deny with input as asg_doc(group)
	mentions(msgs, ["\"t3.micro\""])
}

test_launch_template_type_denied if {
	msgs := cost.deny with input as {"resource": {"aws_launch_template": {"big": {"instance_type": "p5.48xlarge"}}}}
	mentions(msgs, ["aws_launch_template.big", "instance_type \"p5.48xlarge\""])
}

test_launch_template_without_type_allowed if {
	count(cost.deny) == 0 with input as {"resource": {"aws_launch_template": {"burst": {"image_id": "ami-123"}}}}
}

test_gcp_machine_type_allowed if {
	count(cost.deny) == 0 with input as gcp_template({"machine_type": "n2-standard-4"})
}

test_gcp_machine_type_denied if {
	msgs := cost.deny with input as gcp_template({"machine_type": "a3-highgpu-8g"})
	mentions(msgs, ["google_compute_instance_template.burst", "machine_type \"a3-highgpu-8g\"", "gcp allow-list"])
}

test_hcloud_server_type_allowed if {
	count(cost.deny) == 0 with input as {"resource": {"hcloud_server": {"cp": {"server_type": "cpx41"}}}}
}

test_hcloud_server_type_denied if {
	msgs := cost.deny with input as {"resource": {"hcloud_server": {"cp": {"server_type": "ccx63"}}}}
	mentions(msgs, ["hcloud_server.cp", "server_type \"ccx63\"", "hcloud allow-list"])
}

test_hcloud_server_type_interpolated_denied if {
	msgs := cost.deny with input as {"resource": {"hcloud_server": {"cp": {"server_type": "${var.server_type}"}}}}
	mentions(msgs, ["hcloud_server.cp", "${var.server_type}"])
}

# Overrides merge into the defaults: replacing the hcloud list keeps the others.
test_instance_types_override if {
	doc := {"resource": {
		"hcloud_server": {"cp": {"server_type": "cx22"}},
		"google_compute_instance_template": {"burst": {"machine_type": "g2-standard-4", "scheduling": spot_scheduling}},
	}}
	count(cost.deny) == 0 with input as doc with data.spillway.limits_override as {"instance_types": {"hcloud": ["cx22"]}}
}

# --- 4. lifecycle rules --------------------------------------------------------

test_s3_lifecycle_allowed if {
	count(cost.deny) == 0 with input as s3({"bucket": bucket_ref, "rule": [expire_rule]})
}

test_s3_lifecycle_by_literal_name_single_rule_allowed if {
	count(cost.deny) == 0 with input as s3({"bucket": "spillway-models", "rule": expire_rule})
}

test_s3_without_lifecycle_denied if {
	msgs := cost.deny with input as {"resource": {"aws_s3_bucket": {"models": {"//": meta("aws-spot/models/bucket")}}}}
	msgs == {"aws_s3_bucket.models (aws-spot/models/bucket): bucket has no enabled lifecycle rule; add an aws_s3_bucket_lifecycle_configuration referring to it with a rule whose status is \"Enabled\" (e.g. noncurrent_version_expiration)"}
}

test_s3_lifecycle_disabled_denied if {
	msgs := cost.deny with input as s3({"bucket": bucket_ref, "rule": [object.union(expire_rule, {"status": "Disabled"})]})
	mentions(msgs, ["aws_s3_bucket.models", "no enabled lifecycle rule"])
}

test_s3_lifecycle_for_other_bucket_denied if {
	msgs := cost.deny with input as s3({"bucket": "${aws_s3_bucket.logs.id}", "rule": [expire_rule]})
	mentions(msgs, ["aws_s3_bucket.models", "no enabled lifecycle rule"])
}

test_gcs_lifecycle_allowed if {
	rule := {"action": {"type": "Delete"}, "condition": {"num_newer_versions": 3}}
	count(cost.deny) == 0 with input as {"resource": {"google_storage_bucket": {"models": {"lifecycle_rule": rule}}}}
}

test_gcs_without_lifecycle_denied if {
	msgs := cost.deny with input as {"resource": {"google_storage_bucket": {"models": {"lifecycle_rule": []}}}}
	mentions(msgs, ["google_storage_bucket.models", "no lifecycle_rule"])
}

# --- samples (policies/cost/samples/<case>/cdk.tf.json) -------------------------

test_sample_allowed if {
	count(cost.deny) == 0 with input as data.cost.samples.allowed
}

test_sample_denied_on_demand if {
	msgs := cost.deny with input as data.cost.samples["denied-on-demand"]
	count(msgs) == 2
	mentions(msgs, ["aws_autoscaling_group.burst (aws-spot/burst/asg)", "on_demand_percentage_above_base_capacity is unset"])
	mentions(msgs, ["google_compute_instance_template.burst (gcp-spot/burst/template)", "SPOT"])
}

test_sample_denied_over_cap if {
	msgs := cost.deny with input as data.cost.samples["denied-over-cap"]
	count(msgs) == 2
	mentions(msgs, ["aws_autoscaling_group.burst", "max_size is 50"])
	mentions(msgs, ["google_compute_region_autoscaler.burst", "cannot be checked"])
}

test_sample_denied_instance_type if {
	msgs := cost.deny with input as data.cost.samples["denied-instance-type"]
	count(msgs) == 2
	mentions(msgs, ["aws_autoscaling_group.burst", "p4d.24xlarge"])
	mentions(msgs, ["hcloud_server.control (hetzner/control-plane)", "ccx63"])
}

test_sample_denied_no_lifecycle if {
	msgs := cost.deny with input as data.cost.samples["denied-no-lifecycle"]
	count(msgs) == 2
	mentions(msgs, ["aws_s3_bucket.models", "no enabled lifecycle rule"])
	mentions(msgs, ["google_storage_bucket.models", "no lifecycle_rule"])
}
