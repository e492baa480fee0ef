"""The CloudFormation templates describe the architecture of docs/deploy.md.

cfn-lint and checkov (make lint-infra) check each template against the resource specification
and security rules; these tests check what they cannot: that the layers fit together the way
the architecture says.
"""

import re

import pytest

from tests.deploy.cfn import TEMPLATES, az_index, import_name, load, resources

LAYERS = ["network", "database", "access", "application", "backup", "vpn"]
# Parameter naming another layer's stack -> that layer's template.
STACK_PARAMETERS = {
    "NetworkStackName": "network",
    "DatabaseStackName": "database",
    "AccessStackName": "access",
}


@pytest.fixture(scope="module")
def network():
    return load("network")


@pytest.fixture(scope="module")
def database():
    return load("database")


@pytest.fixture(scope="module")
def application():
    return load("application")


def walk(node):
    """Yield every dict and list inside NODE."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_it_has_one_template_per_layer():
    present = {path.stem for path in TEMPLATES.glob("*.yaml")}
    assert set(LAYERS) <= present


def test_it_puts_every_tier_in_two_availability_zones(network):
    subnets = resources(network, "AWS::EC2::Subnet")
    for tier in ("public", "app", "database"):
        tier_subnets = [s for s in subnets.values() if {"Key": "Tier", "Value": tier} in s["Properties"]["Tags"]]
        assert len(tier_subnets) == 2, tier
        assert sorted(az_index(s) for s in tier_subnets) == [0, 1], tier


def _route_tables_of(template: dict, subnet_ids: set[str]) -> set[str]:
    associations = resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
    return {
        a["Properties"]["RouteTableId"]["Ref"] for a in associations if a["Properties"]["SubnetId"]["Ref"] in subnet_ids
    }


def test_it_gives_the_database_subnets_no_route_to_the_internet(network):
    database_tables = _route_tables_of(network, {"DatabaseSubnetA", "DatabaseSubnetB"})
    assert database_tables == {"DatabaseRouteTable"}
    routes = resources(network, "AWS::EC2::Route").values()
    assert not [r for r in routes if r["Properties"]["RouteTableId"]["Ref"] in database_tables]
    # Nor does any other layer add one: the VPN only propagates the office's routes.
    for layer in LAYERS:
        for route in resources(load(layer), "AWS::EC2::Route").values():
            assert "DatabaseRouteTable" not in str(route["Properties"]["RouteTableId"]), layer


def test_it_routes_each_app_zone_through_its_own_nat_gateway(network):
    routes = resources(network, "AWS::EC2::Route")
    nats = resources(network, "AWS::EC2::NatGateway")
    subnets = resources(network, "AWS::EC2::Subnet")
    for zone in ("A", "B"):
        route = routes[f"AppDefaultRoute{zone}"]["Properties"]
        assert route["DestinationCidrBlock"] == "0.0.0.0/0"
        nat = nats[route["NatGatewayId"]["Ref"]]
        assert az_index(subnets[nat["Properties"]["SubnetId"]["Ref"]]) == az_index(subnets[f"AppSubnet{zone}"])
        assert _route_tables_of(network, {f"AppSubnet{zone}"}) == {route["RouteTableId"]["Ref"]}


def _rules(template: dict, group: str, direction: str) -> list[dict]:
    """Return the ingress or egress rules of GROUP, inline and as separate resources."""
    inline_key = "SecurityGroupIngress" if direction == "ingress" else "SecurityGroupEgress"
    kind = "AWS::EC2::SecurityGroupIngress" if direction == "ingress" else "AWS::EC2::SecurityGroupEgress"
    rules = list(template["Resources"][group]["Properties"].get(inline_key, []))
    rules += [
        r["Properties"] for r in resources(template, kind).values() if r["Properties"]["GroupId"] == {"Ref": group}
    ]
    return rules


def test_it_chains_the_security_groups_alb_to_app_to_database(network):
    alb_in = _rules(network, "AlbSecurityGroup", "ingress")
    assert {(r["FromPort"], r.get("CidrIp")) for r in alb_in} == {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}

    app_in = _rules(network, "AppSecurityGroup", "ingress")
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in app_in] == [(8000, {"Ref": "AlbSecurityGroup"})]

    database_in = _rules(network, "DatabaseSecurityGroup", "ingress")
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in database_in] == [(3306, {"Ref": "AppSecurityGroup"})]

    alb_out = _rules(network, "AlbSecurityGroup", "egress")
    assert [(r["FromPort"], r["DestinationSecurityGroupId"]) for r in alb_out] == [(8000, {"Ref": "AppSecurityGroup"})]
    database_out = _rules(network, "DatabaseSecurityGroup", "egress")
    assert [r["CidrIp"] for r in database_out] == ["127.0.0.1/32"], "the database may not open connections"


def test_it_describes_every_security_group_rule():
    for layer in LAYERS:
        template = load(layer)
        for name, res in template["Resources"].items():
            props = res["Properties"]
            if res["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
                assert props.get("Description"), f"{layer}.{name}"
            if res["Type"] == "AWS::EC2::SecurityGroup":
                for rule in props.get("SecurityGroupIngress", []) + props.get("SecurityGroupEgress", []):
                    assert rule.get("Description"), f"{layer}.{name}"


def test_it_opens_the_bastion_only_to_the_office_and_only_when_asked():
    access = load("access")
    group = access["Resources"]["BastionSecurityGroup"]
    assert group["Condition"] == "WithBastion"
    ingress = group["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r["CidrIp"]) for r in ingress] == [(22, {"Ref": "OfficeCidr"})]
    for name in ("Bastion", "BastionLaunchTemplate", "DatabaseFromBastionIngress", "BastionRole"):
        assert access["Resources"][name]["Condition"] == "WithBastion"


def test_the_bastion_has_a_role_of_its_own_without_the_applications_grants():
    access = load("access")
    template = access["Resources"]["BastionLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert template["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["BastionInstanceProfile", "Arn"]}}
    assert access["Resources"]["BastionInstanceProfile"]["Properties"]["Roles"] == [{"Ref": "BastionRole"}]
    # application.yaml adds its grants (configuration, secrets, media) to the instance role only.
    policy = load("application")["Resources"]["ApplicationPolicy"]["Properties"]
    assert [import_name(role) for role in policy["Roles"]] == ["${AccessStackName}-InstanceRoleName"]
    role = access["Resources"]["BastionRole"]["Properties"]
    assert [arn["Fn::Sub"] for arn in role["ManagedPolicyArns"]] == [
        "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    ]
    actions = {a for p in role["Policies"] for st in p["PolicyDocument"]["Statement"] for a in _list(st["Action"])}
    assert not any(action.startswith(("secretsmanager:", "ssm:", "s3:")) for action in actions)


def _list(value):
    return value if isinstance(value, list) else [value]


def test_it_places_the_writer_and_the_reader_in_different_zones(database):
    instances = resources(database, "AWS::RDS::DBInstance")
    writer, reader = instances["WriterInstance"], instances["ReaderInstance"]
    assert (
        writer["Properties"]["DBClusterIdentifier"] == reader["Properties"]["DBClusterIdentifier"] == {"Ref": "Cluster"}
    )
    assert az_index(writer) != az_index(reader)
    assert writer["Properties"]["PromotionTier"] < reader["Properties"]["PromotionTier"]
    subnets = database["Resources"]["SubnetGroup"]["Properties"]["SubnetIds"]
    assert sorted(import_name(s) for s in subnets) == [
        "${NetworkStackName}-DatabaseSubnetA",
        "${NetworkStackName}-DatabaseSubnetB",
    ]


def test_it_protects_the_aurora_cluster(database):
    cluster = database["Resources"]["Cluster"]
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-mysql"
    assert props["EngineVersion"] == {"Ref": "EngineVersion"}
    assert database["Parameters"]["EngineVersion"]["Default"].startswith("8.0.mysql_aurora.3.")
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey", "Arn"]}
    assert props["ManageMasterUserPassword"] is True
    assert props["DeletionProtection"] is True
    assert cluster["DeletionPolicy"] == "Snapshot"
    assert database["Parameters"]["BackupRetentionDays"]["MinValue"] >= 7
    assert database["Parameters"]["BackupRetentionDays"]["Default"] >= 7
    group = database["Resources"][props["DBClusterParameterGroupName"]["Ref"]]
    assert group["Properties"]["Parameters"]["require_secure_transport"] == "ON"


def test_it_scales_the_readers_from_one_to_n(database):
    target = database["Resources"]["ReaderScalableTarget"]["Properties"]
    assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert target["MinCapacity"] == 1
    assert target["MaxCapacity"] == {"Ref": "MaxReaders"}
    policy = database["Resources"]["ReaderScalingPolicy"]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ScalingTargetId"] == {"Ref": "ReaderScalableTarget"}


def test_it_attaches_the_waf_web_acl_to_the_load_balancer(application):
    association = resources(application, "AWS::WAFv2::WebACLAssociation")
    assert [a["Properties"] for a in association.values()] == [
        {"ResourceArn": {"Ref": "LoadBalancer"}, "WebACLArn": {"Fn::GetAtt": ["WebAcl", "Arn"]}}
    ]
    acl = application["Resources"]["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesBotControlRuleSet",
    }
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"])


def _waf_rules(application) -> dict[str, dict]:
    return {rule["Name"]: rule for rule in application["Resources"]["WebAcl"]["Properties"]["Rules"]}


def _starts_with(statement: dict) -> str:
    match = statement["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"UriPath": {}} and match["PositionalConstraint"] == "STARTS_WITH"
    return match["SearchString"]


def test_waf_blocks_admin_outside_the_office_ranges(application):
    rule = _waf_rules(application)["AdminOnlyFromTheOffice"]
    assert rule["Action"] == {"Block": {}}
    path, outside = rule["Statement"]["AndStatement"]["Statements"]
    assert _starts_with(path) == "/admin/"
    assert outside["NotStatement"]["Statement"]["IPSetReferenceStatement"]["Arn"] == {
        "Fn::GetAtt": ["AdminIpSet", "Arn"]
    }
    ip_set = application["Resources"]["AdminIpSet"]["Properties"]
    # No ranges given: nobody reaches /admin/ (secure by default), never "everybody".
    assert ip_set["Addresses"] == {"Fn::If": ["HasAdminCidrs", {"Ref": "AdminCidrs"}, []]}
    assert rule["Priority"] < min(
        r["Priority"] for n, r in _waf_rules(application).items() if n.startswith("RateLimit")
    )


def test_waf_rate_limits_per_address_and_tighter_on_lookups_api_and_admin_login(application):
    rules = _waf_rules(application)
    limits = {}
    for rule in rules.values():
        statement = rule["Statement"].get("RateBasedStatement")
        if statement:
            assert rule["Action"] == {"Block": {}} and statement["AggregateKeyType"] == "IP"
            scope = statement.get("ScopeDownStatement")
            limits[_starts_with(scope) if scope else "*"] = statement["Limit"]["Ref"]
    assert set(limits) == {"*", "/track/", "/api/", "/admin/login/"}
    defaults = {path: application["Parameters"][name]["Default"] for path, name in limits.items()}
    assert all(defaults[path] < defaults["*"] for path in ("/track/", "/api/", "/admin/login/"))


def test_waf_counts_bot_control_on_the_lookups_only_and_caps_public_bodies(application):
    rules = _waf_rules(application)
    bots = rules["AWSManagedRulesBotControlRuleSet"]
    assert bots["OverrideAction"] == {"Count": {}}  # counting first
    group = bots["Statement"]["ManagedRuleGroupStatement"]
    assert _starts_with(group["ScopeDownStatement"]) == "/track/"
    assert group["ManagedRuleGroupConfigs"] == [{"AWSManagedRulesBotControlRuleSet": {"InspectionLevel": "COMMON"}}]
    size, *exempt = rules["PublicBodyAtMost8KB"]["Statement"]["AndStatement"]["Statements"]
    constraint = size["SizeConstraintStatement"]
    # ALB gives WAF the first 8 KB of a body: a bigger one matches (OversizeHandling) and is blocked.
    assert constraint["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert (constraint["ComparisonOperator"], constraint["Size"]) == ("GT", 8192)
    assert sorted(_starts_with(e["NotStatement"]["Statement"]) for e in exempt) == ["/admin/", "/api/"]


def test_waf_logs_redact_credentials_and_the_query_string(application):
    redacted = application["Resources"]["WafLogging"]["Properties"]["RedactedFields"]
    assert {"QueryString": {}} in redacted  # postal codes unlock private details
    assert {"SingleHeader": {"Name": "authorization"}} in redacted
    assert {"SingleHeader": {"Name": "cookie"}} in redacted


def test_the_secret_key_lives_in_a_secret_replicated_to_the_dr_region_and_rotates(application):
    secret = application["Resources"]["AppSecret"]
    assert secret["Condition"] == "IsPrimary"
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["Properties"]["ReplicaRegions"] == [{"Region": {"Ref": "DrRegion"}}]
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "ConfigKey"}
    assert application["Conditions"]["IsPrimary"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "DrRegion"}]}]
    }
    rotation = application["Resources"]["SecretKeyRotation"]["Properties"]
    assert rotation["SecretId"] == {"Ref": "AppSecret"}
    assert rotation["RotationLambdaARN"] == {"Fn::GetAtt": ["SecretKeyRotationFunction", "Arn"]}
    # The instances read it by name in the DR region, where the primary's stack made the replica.
    user_data = application["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    values = user_data["Fn::Base64"]["Fn::Sub"][1]
    assert "export PHOENIX_APP_SECRET_ID='${AppSecretId}'" in user_data["Fn::Base64"]["Fn::Sub"][0]
    assert values["AppSecretId"]["Fn::If"][0] == "IsPrimary"
    assert values["AppSecretId"]["Fn::If"][1] == {"Ref": "AppSecret"}


def _statements(application) -> dict[str, dict]:
    document = application["Resources"]["ApplicationPolicy"]["Properties"]["PolicyDocument"]
    found = {}
    for statement in document["Statement"]:
        found[statement["Sid"]] = statement
    return found


def test_the_instance_role_decrypts_and_reads_only_its_own_environment(application):
    statements = _statements(application)
    decrypt = statements["DecryptConfiguration"]
    context = decrypt["Condition"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]["Fn::Sub"][0]
    assert context.endswith(":parameter/phoenix/${Environment}/*")
    app_secret = statements["ReadAppSecret"]["Resource"]["Fn::Sub"][0]
    assert app_secret.endswith(":secret:phoenix/${Environment}/app-*")
    opened = statements["DecryptAppSecret"]["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"]
    assert opened["Fn::Sub"][0] == app_secret
    database = statements["ReadDatabaseSecret"]["Resource"]
    assert sorted(import_name(r) for r in database) == [
        "${DatabaseStackName}-AppUserSecretArn",
        "${DatabaseStackName}-MigrateUserSecretArn",
    ]
    everything = str(application["Resources"]["ApplicationPolicy"])
    assert "-SecretArn" not in everything.replace("UserSecretArn", ""), "no master secret for the instances"


def test_the_database_users_have_their_own_secrets(database):
    for name, user in (("AppUserSecret", "phoenix_app"), ("MigrateUserSecret", "phoenix_migrate")):
        props = database["Resources"][name]["Properties"]
        assert props["KmsKeyId"] == {"Ref": "DatabaseKey"}
        assert props["GenerateSecretString"]["SecretStringTemplate"] == f'{{"username": "{user}"}}'
        assert props["GenerateSecretString"]["GenerateStringKey"] == "password"
    outputs = database["Outputs"]
    assert outputs["AppUserSecretArn"]["Value"] == {"Ref": "AppUserSecret"}
    assert outputs["MigrateUserSecretArn"]["Value"] == {"Ref": "MigrateUserSecret"}


def test_gunicorn_trusts_forwarded_headers_from_this_regions_vpc_only(application):
    parameter = application["Resources"]["ForwardedAllowIpsParameter"]["Properties"]
    assert parameter["Name"]["Fn::Sub"][0] == "/phoenix/${Environment}/FORWARDED_ALLOW_IPS"
    assert import_name(parameter["Value"]) == "${NetworkStackName}-VpcCidr"


def test_it_serves_https_and_redirects_http(application):
    listeners = {
        r["Properties"]["Port"]: r["Properties"]
        for r in resources(application, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"


def test_it_checks_instance_health_on_healthz_and_drains_for_30_to_60_seconds(application):
    group = application["Resources"]["TargetGroup"]["Properties"]
    assert group["HealthCheckPath"] == "/healthz"
    assert group["Port"] == 8000
    delay = application["Parameters"]["DeregistrationDelaySeconds"]
    assert 30 <= delay["MinValue"] <= delay["Default"] <= delay["MaxValue"] <= 60
    attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == {"Ref": "DeregistrationDelaySeconds"}


def test_it_runs_the_fleet_over_both_app_subnets_with_imdsv2_and_rolling_replacement(application):
    asg = application["Resources"]["AutoScalingGroup"]
    props = asg["Properties"]
    assert sorted(import_name(s) for s in props["VPCZoneIdentifier"]) == [
        "${NetworkStackName}-AppSubnetA",
        "${NetworkStackName}-AppSubnetB",
    ]
    assert props["HealthCheckType"] == "ELB"
    assert application["Parameters"]["MinSize"]["MinValue"] >= 2
    rolling = asg["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["WaitOnResourceSignals"] is True
    assert rolling["MinInstancesInService"] == {"Ref": "MinSize"}
    assert asg["CreationPolicy"]["ResourceSignal"]["Count"] == {"Ref": "MinSize"}

    data = application["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "AmiId"}
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    user_data = data["UserData"]["Fn::Base64"]["Fn::Sub"][0]
    assert "exec /opt/phoenix/app/deploy/userdata.sh" in user_data
    assert "PHOENIX_CFN_RESOURCE=AutoScalingGroup" in user_data

    policies = resources(application, "AWS::AutoScaling::ScalingPolicy").values()
    assert [p["Properties"]["PolicyType"] for p in policies] == ["TargetTrackingScaling"]


def test_it_copies_every_daily_backup_to_the_disaster_recovery_region():
    backup = load("backup")
    plan = backup["Resources"]["Plan"]["Properties"]["BackupPlan"]
    (rule,) = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"].startswith("cron(0 ") and "* * ? *" in rule["ScheduleExpression"]
    (copy,) = rule["CopyActions"]
    destination = copy["DestinationBackupVaultArn"]["Fn::Sub"]
    assert re.fullmatch(
        r"arn:\$\{AWS::Partition\}:backup:\$\{DrRegion\}:\$\{AWS::AccountId\}:backup-vault:.+", destination
    )
    assertion = backup["Rules"]["DrRegionIsAnotherRegion"]["Assertions"][0]["Assert"]
    assert assertion == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DrRegion"}, {"Ref": "AWS::Region"}]}]}
    selection = backup["Resources"]["Selection"]["Properties"]["BackupSelection"]
    assert [import_name(r) for r in selection["Resources"]] == ["${DatabaseStackName}-ClusterArn"]


def test_it_propagates_the_office_routes_to_the_private_route_tables_only():
    vpn = load("vpn")
    propagation = vpn["Resources"]["RoutePropagation"]["Properties"]
    assert sorted(import_name(t) for t in propagation["RouteTableIds"]) == [
        "${NetworkStackName}-AppRouteTableA",
        "${NetworkStackName}-AppRouteTableB",
        "${NetworkStackName}-DatabaseRouteTable",
    ]


def test_the_vpn_admits_the_office_to_the_app_port_only_with_strong_tunnels():
    vpn = load("vpn")
    ingress = resources(vpn, "AWS::EC2::SecurityGroupIngress")
    assert [
        (import_name(r["Properties"]["GroupId"]), r["Properties"]["FromPort"], r["Properties"]["CidrIp"])
        for r in ingress.values()
    ] == [("${NetworkStackName}-AppSecurityGroup", 8000, {"Ref": "OfficeCidr"})]
    tunnels = vpn["Resources"]["VpnConnection"]["Properties"]["VpnTunnelOptionsSpecifications"]
    assert len(tunnels) == 2 and tunnels[0] == tunnels[1]
    tunnel = tunnels[0]
    assert tunnel["IKEVersions"] == [{"Value": "ikev2"}]
    algorithms = str({k: v for k, v in tunnel.items() if "Algorithms" in k})
    assert "SHA1" not in algorithms and "AES128" not in algorithms
    assert all(group["Value"] >= 19 for group in tunnel["Phase1DHGroupNumbers"] + tunnel["Phase2DHGroupNumbers"])
    assert tunnel["DPDTimeoutAction"] == "restart"


def test_the_vault_lock_is_compliance_mode_and_restores_are_tested_monthly():
    backup = load("backup")
    lock = backup["Resources"]["Vault"]["Properties"]["LockConfiguration"]
    # ChangeableForDays makes it compliance mode (without it, governance: removable by admins).
    assert lock["ChangeableForDays"] >= 3 and lock["MinRetentionDays"] >= 7
    plan = backup["Resources"]["RestoreTestingPlan"]["Properties"]
    assert plan["RecoveryPointSelection"]["IncludeVaults"] == [{"Fn::GetAtt": ["Vault", "BackupVaultArn"]}]
    selection = backup["Resources"]["RestoreTestingSelection"]["Properties"]
    assert selection["ProtectedResourceType"] == "Aurora"
    assert [import_name(arn) for arn in selection["ProtectedResourceArns"]] == ["${DatabaseStackName}-ClusterArn"]


def test_it_alarms_on_5xx_unhealthy_hosts_replica_lag_and_failed_backups():
    metrics = set()
    for layer in LAYERS:
        for alarm in resources(load(layer), "AWS::CloudWatch::Alarm").values():
            metrics.add(alarm["Properties"]["MetricName"])
            assert alarm["Properties"]["AlarmActions"], "an alarm must notify someone"
    assert {
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "UnHealthyHostCount",
        "AuroraReplicaLagMaximum",
        "NumberOfBackupJobsFailed",
        "TargetResponseTime",
        "HealthyHostCount",
        "GroupInServiceInstances",
        "FreeableMemory",
        "DatabaseConnections",
        "CPUUtilization",
    } <= metrics


def test_database_events_and_scaling_failures_reach_the_alarm_topic(database, application, network):
    subscriptions = resources(database, "AWS::RDS::EventSubscription")
    assert {s["Properties"]["SourceType"] for s in subscriptions.values()} == {"db-cluster", "db-instance"}
    for subscription in subscriptions.values():
        assert import_name(subscription["Properties"]["SnsTopicArn"]) == "${NetworkStackName}-AlarmTopicArn"
        assert "failover" in subscription["Properties"]["EventCategories"]
    rule = application["Resources"]["ScalingFailuresRule"]["Properties"]
    assert "EC2 Instance Launch Unsuccessful" in rule["EventPattern"]["detail-type"]
    assert [import_name(t["Arn"]) for t in rule["Targets"]] == ["${NetworkStackName}-AlarmTopicArn"]
    # The topic (and its key) must let RDS and EventBridge publish.
    publishers = str(network["Resources"]["AlarmTopicPolicy"]) + str(network["Resources"]["AlarmTopicKey"])
    assert publishers.count("events.rds.amazonaws.com") == 2 and "events.amazonaws.com" in publishers
    body = application["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for metric in ("HTTPCode_Target_5XX_Count", "TargetResponseTime", "HealthyHostCount", "FreeableMemory"):
        assert metric in body


def test_it_imports_only_what_the_earlier_layers_export():
    exports = {}
    for layer in LAYERS:
        for output in load(layer).get("Outputs", {}).values():
            if "Export" in output:
                name = output["Export"]["Name"]["Fn::Sub"]
                exports.setdefault(layer, set()).add(name.replace("${AWS::StackName}-", ""))
    for layer in LAYERS:
        template = load(layer)
        for node in walk(template):
            name = import_name(node)
            if not name:
                continue
            parameter, _, output = name.partition("}-")
            parameter = parameter.lstrip("${")
            assert parameter in template["Parameters"], f"{layer}: {name}"
            assert output in exports[STACK_PARAMETERS[parameter]], f"{layer} imports {name}, which is not exported"


def test_it_describes_every_parameter():
    for layer in LAYERS:
        for name, parameter in load(layer).get("Parameters", {}).items():
            assert parameter.get("Description"), f"{layer}.{name}"


def _ssm_parameters(template: dict) -> dict[str, dict]:
    """Return {variable name: SSM parameter resource} for the /phoenix/<env>/NAME parameters."""
    found = {}
    for resource in resources(template, "AWS::SSM::Parameter").values():
        path = resource["Properties"]["Name"]["Fn::Sub"][0]
        assert path.startswith("/phoenix/${Environment}/"), path
        found[path.rsplit("/", 1)[-1]] = resource
    return found


def test_it_writes_an_https_site_url_to_parameter_store(application):
    # E-mail links are built from PHOENIX_SITE_URL; deploy/phoenix_env.py reads /phoenix/<env>/.
    parameter = _ssm_parameters(application)["PHOENIX_SITE_URL"]
    assert parameter["Properties"]["Value"] == {"Ref": "SiteUrl"}
    pattern = re.compile(application["Parameters"]["SiteUrl"]["AllowedPattern"])
    assert pattern.match("https://track.qualitypost.mx")
    for wrong in ("http://track.qualitypost.mx", "https://track.qualitypost.mx/path", "track.qualitypost.mx"):
        assert not pattern.match(wrong), wrong
    # The instances boot only once the parameter exists.
    assert "SiteUrlParameter" in application["Resources"]["AutoScalingGroup"]["DependsOn"]


def test_it_stores_media_in_a_private_encrypted_bucket_the_instances_can_use(application):
    bucket = application["Resources"]["MediaBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    parameters = _ssm_parameters(application)
    assert parameters["AWS_STORAGE_BUCKET_NAME"]["Properties"]["Value"] == {"Ref": "MediaBucket"}
    assert parameters["AWS_S3_REGION_NAME"]["Properties"]["Value"] == {"Ref": "AWS::Region"}
    statements = application["Resources"]["ApplicationPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    objects = next(s for s in statements if s.get("Sid") == "ReadWriteMedia")
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert objects["Resource"] == {"Fn::Sub": "${MediaBucket.Arn}/*"}
