# Cost guardrails for the Spillway CDKTF stacks (synthesized cdk.tf.json).
#
# Rules:
#   1. Burst pools (every ASG and GCP instance template) run on spot capacity.
#   2. Pool sizes stay within data.spillway.limits.max_nodes_per_pool.
#   3. Instance/machine/server types come from the per-cloud allow-list.
#   4. Buckets expire old data through lifecycle rules.
package spillway.cost

import data.spillway.lib.terraform as tf

# =============================================================================
# 1. Burst pools are spot / preemptible
# =============================================================================

deny contains msg if {
	some name, group in input.resource.aws_autoscaling_group
	some policy in tf.blocks(group, "mixed_instances_policy")
	base := object.get(instances_distribution(policy), "on_demand_base_capacity", 0)
	base != 0
	msg := sprintf("%s: on_demand_base_capacity is %v; set it to 0 so burst nodes are all spot", [tf.label("aws_autoscaling_group", name), base])
}

# AWS defaults on_demand_percentage_above_base_capacity to 100 (all
# on-demand), so leaving it out is as expensive as setting 100.
deny contains msg if {
	some name, group in input.resource.aws_autoscaling_group
	some policy in tf.blocks(group, "mixed_instances_policy")
	percentage := object.get(instances_distribution(policy), "on_demand_percentage_above_base_capacity", "unset (AWS default 100)")
	percentage != 0
	msg := sprintf("%s: on_demand_percentage_above_base_capacity is %v; set it to 0 so burst nodes are all spot", [tf.label("aws_autoscaling_group", name), percentage])
}

instances_distribution(policy) := distribution if {
	distribution := tf.blocks(policy, "instances_distribution")[0]
} else := {}

# Without a mixed_instances_policy the group launches whatever its launch
# template asks for, which is on-demand unless the template requests spot.
deny contains msg if {
	some name, group in input.resource.aws_autoscaling_group
	count(tf.blocks(group, "mixed_instances_policy")) == 0
	not spot_launch_template(group)
	msg := sprintf("%s: has no mixed_instances_policy and its launch template does not set instance_market_options.market_type = \"spot\"; add a mixed_instances_policy with 0%% on-demand or make the launch template spot", [tf.label("aws_autoscaling_group", name)])
}

spot_launch_template(group) if {
	some spec in tf.blocks(group, "launch_template")
	template := input.resource.aws_launch_template[launch_template_name(spec)]
	some options in tf.blocks(template, "instance_market_options")
	options.market_type == "spot"
}

launch_template_name(spec) := name if {
	some ref in [object.get(spec, "id", ""), object.get(spec, "name", "")]
	[[_, name, _]] := regex.find_all_string_submatch_n(`^\$\{aws_launch_template\.([^.}]+)\.(id|name)\}$`, ref, 1)
}

gcp_template_types := {"google_compute_instance_template", "google_compute_region_instance_template"}

deny contains msg if {
	some type in gcp_template_types
	some name, template in input.resource[type]
	not spot_scheduling(template)
	msg := sprintf("%s: scheduling must set provisioning_model = \"SPOT\" (or preemptible = true) for burst pools", [tf.label(type, name)])
}

spot_scheduling(template) if {
	some scheduling in tf.blocks(template, "scheduling")
	scheduling.provisioning_model == "SPOT"
}

spot_scheduling(template) if {
	some scheduling in tf.blocks(template, "scheduling")
	scheduling.preemptible == true
}

# =============================================================================
# 2. Pool size within the node cap
# =============================================================================

max_nodes := object.get(tf.limits, "max_nodes_per_pool", null)

# Every attribute that bounds how many nodes a pool can reach. A group
# manager's target_size is optional (an autoscaler may own it).
pool_sizes contains {"type": "aws_autoscaling_group", "name": name, "attr": "max_size", "value": value} if {
	some name, group in input.resource.aws_autoscaling_group
	value := object.get(group, "max_size", null)
}

pool_sizes contains {"type": type, "name": name, "attr": "autoscaling_policy.max_replicas", "value": value} if {
	some type in {"google_compute_region_autoscaler", "google_compute_autoscaler"}
	some name, autoscaler in input.resource[type]
	some policy in tf.blocks(autoscaler, "autoscaling_policy")
	value := object.get(policy, "max_replicas", null)
}

pool_sizes contains {"type": type, "name": name, "attr": "target_size", "value": manager.target_size} if {
	some type in {"google_compute_region_instance_group_manager", "google_compute_instance_group_manager"}
	some name, manager in input.resource[type]
}

deny contains msg if {
	some pool in pool_sizes
	is_number(pool.value)
	is_number(max_nodes)
	pool.value > max_nodes
	msg := sprintf("%s: %s is %v, above the cap of %v nodes per pool (data.spillway.limits.max_nodes_per_pool); lower it or raise the cap", [tf.label(pool.type, pool.name), pool.attr, pool.value, max_nodes])
}

deny contains msg if {
	some pool in pool_sizes
	not is_number(pool.value)
	msg := sprintf("%s: %s is %v, not a literal number, so the node cap (%v) cannot be checked; use a literal number", [tf.label(pool.type, pool.name), pool.attr, pool.value, max_nodes])
}

# Fail closed when the limits document is not loaded.
deny contains msg if {
	some pool in pool_sizes
	not is_number(max_nodes)
	msg := sprintf("%s: %s cannot be checked: data.spillway.limits.max_nodes_per_pool is not configured (load policies/data.json)", [tf.label(pool.type, pool.name), pool.attr])
}

# =============================================================================
# 3. Instance types from the allow-list
# =============================================================================

instance_types_used contains {"cloud": "aws", "type": "aws_autoscaling_group", "name": name, "attr": "mixed_instances_policy override instance_type", "value": override.instance_type} if {
	some name, group in input.resource.aws_autoscaling_group
	some policy in tf.blocks(group, "mixed_instances_policy")
	some template in tf.blocks(policy, "launch_template")
	some override in tf.blocks(template, "override")
}

instance_types_used contains {"cloud": "aws", "type": "aws_launch_template", "name": name, "attr": "instance_type", "value": template.instance_type} if {
	some name, template in input.resource.aws_launch_template
}

instance_types_used contains {"cloud": "gcp", "type": type, "name": name, "attr": "machine_type", "value": template.machine_type} if {
	some type in gcp_template_types
	some name, template in input.resource[type]
}

instance_types_used contains {"cloud": "hcloud", "type": "hcloud_server", "name": name, "attr": "server_type", "value": server.server_type} if {
	some name, server in input.resource.hcloud_server
}

allowed_types(cloud) := object.get(object.get(tf.limits, "instance_types", {}), cloud, [])

deny contains msg if {
	some use in instance_types_used
	allowed := allowed_types(use.cloud)
	not use.value in allowed
	msg := sprintf("%s: %s \"%v\" is not in the %s allow-list (data.spillway.limits.instance_types.%s: %s); use an allowed type or extend the list", [tf.label(use.type, use.name), use.attr, use.value, use.cloud, use.cloud, concat(", ", allowed)])
}

# =============================================================================
# 4. Buckets have lifecycle rules
# =============================================================================

deny contains msg if {
	some name, _ in input.resource.aws_s3_bucket
	not enabled_lifecycle_rule(name)
	msg := sprintf("%s: bucket has no enabled lifecycle rule; add an aws_s3_bucket_lifecycle_configuration referring to it with a rule whose status is \"Enabled\" (e.g. noncurrent_version_expiration)", [tf.label("aws_s3_bucket", name)])
}

enabled_lifecycle_rule(bucket) if {
	some config in tf.bucket_companions("aws_s3_bucket_lifecycle_configuration", bucket)
	some rule in tf.blocks(config, "rule")
	rule.status == "Enabled"
}

deny contains msg if {
	some name, bucket in input.resource.google_storage_bucket
	count(tf.blocks(bucket, "lifecycle_rule")) == 0
	msg := sprintf("%s: bucket has no lifecycle_rule; add one (e.g. delete noncurrent versions after N days)", [tf.label("google_storage_bucket", name)])
}
