"""EC2 (images, snapshots, volumes, instances, launch templates, EBS defaults, VPC endpoints) and Auto Scaling into
the world."""

from __future__ import annotations

from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.jsonio import Node
from kmslaunch.snapshot.layout import LT_ID_TAG, LT_VERSION_TAG
from kmslaunch.snapshot.reader import Reader
from kmslaunch.world.autoscaling import AutoScalingGroup, LaunchConfiguration, ScalingActivity, default_slr_arn
from kmslaunch.world.ec2 import Attachment, Image, Instance, LaunchTemplate, Volume, VpcEndpoint
from kmslaunch.world.ec2 import Snapshot as EbsSnapshot
from kmslaunch.world.instances import InstanceState
from kmslaunch.world.world import Region, World

_INSTANCE_STATES = tuple(s.label for s in InstanceState)


class Ec2Loader(Reader):
    def ec2(self, world: World, account: str, region: Region, base: str, who: str) -> None:
        ec2 = region.ec2
        whole = self.whole_dir(
            base, "ec2", who, "images, snapshots, volumes, instances, launch templates and EBS defaults"
        )

        def read(rel: str, what: str) -> Node | None:
            return self.read(f"{base}/{rel}", who, rel, None if whole else what)

        if (node := read(L.EC2_IMAGES, "images (AMIs) are unknown")) is not None:
            for n in node["Images"].objects("an image"):
                image = self.image(n)
                if image is None:
                    continue
                if image.owner != account:
                    self.shared_images.append((account, region.name, image))
                else:
                    ec2.images[image.image_id] = image
        if (node := read(L.EC2_SNAPSHOTS, "EBS snapshots are unknown")) is not None:
            for n in node["Snapshots"].objects("a snapshot"):
                snap = self.snapshot(n)
                if snap is None:
                    continue
                if snap.owner != account:
                    self.shared_snapshots.append((account, region.name, snap))
                else:
                    ec2.snapshots[snap.snapshot_id] = snap
        if (node := read(L.EC2_VOLUMES, "EBS volumes are unknown")) is not None:
            for n in node["Volumes"].objects("a volume"):
                vol = self.volume(n)
                if vol is not None:
                    ec2.volumes[vol.volume_id] = vol
        if (node := read(L.EC2_INSTANCES, "instances are unknown")) is not None:
            for r in node["Reservations"].objects("a reservation"):
                for n in r["Instances"].objects("an instance"):
                    inst = self.instance(n)
                    if inst is not None:
                        ec2.instances[inst.instance_id] = inst
        self.launch_templates(region, base, who)
        by_default = read(L.EBS_BY_DEFAULT, "whether EBS encrypts new volumes by default is unknown")
        default_key = read(L.EBS_DEFAULT_KEY, "the region's default EBS key is unknown")
        ec2.defaults.known = by_default is not None and default_key is not None
        ec2.defaults.by_default_known = by_default is not None
        if by_default is not None:
            enabled = by_default["EbsEncryptionByDefault"].boolean(required=True)
            ec2.defaults.encryption_by_default = bool(enabled)
        if default_key is not None:
            ref = default_key["KmsKeyId"].text(required=True, what="a key id, key ARN, alias name or alias ARN")
            if ref:
                ec2.defaults.default_kms_key_id = ref
        # Optional (snapshots made before kmslaunch collected it have none): no launch depends on it.
        endpoints = self.read(f"{base}/{L.EC2_VPC_ENDPOINTS}", who, L.EC2_VPC_ENDPOINTS, None)
        ec2.vpc_endpoints_known = endpoints is not None
        if endpoints is not None:
            for n in endpoints["VpcEndpoints"].objects("a VPC endpoint"):
                endpoint = self.vpc_endpoint(n)
                if endpoint is not None:
                    ec2.vpc_endpoints[endpoint.endpoint_id] = endpoint

    def vpc_endpoint(self, n: Node) -> VpcEndpoint | None:
        endpoint_id = n["VpcEndpointId"].text(required=True)
        vpc_id, service = n["VpcId"].text(required=True), n["ServiceName"].text(required=True)
        kind, state, owner, created = (
            n["VpcEndpointType"].text(),
            n["State"].text(),
            n["OwnerId"].text(),
            n["CreationTimestamp"].time(),
        )
        policy = None
        if not n["PolicyDocument"].missing:
            policy = self.document(n["PolicyDocument"], PolicyType.VPC_ENDPOINT, endpoint_id or "vpc endpoint")
        if endpoint_id is None or vpc_id is None or service is None:
            return None
        return VpcEndpoint(
            endpoint_id=endpoint_id,
            vpc_id=vpc_id,
            service_name=service,
            endpoint_type=kind or "Interface",
            state=state or "available",
            policy=policy,
            owner_id=owner or "",
            creation_timestamp=created or "",
        )

    def image(self, n: Node) -> Image | None:
        image_id, owner = n["ImageId"].text(required=True), n["OwnerId"].text(required=True)
        devices = self.block_devices(n["BlockDeviceMappings"])
        fields = (n["Name"].text(), n["RootDeviceName"].text(), n["State"].text(), n["Public"].boolean())
        created, arch, desc = n["CreationDate"].time(), n["Architecture"].text(), n["Description"].text()
        if image_id is None or owner is None:
            return None
        return Image(
            image_id=image_id,
            owner=owner,
            name=fields[0] or "",
            block_devices=devices,
            root_device_name=fields[1] or "/dev/xvda",
            state=fields[2] or "available",
            public=bool(fields[3]),
            creation_date=created or "",
            architecture=arch or "x86_64",
            description=desc or "",
        )

    def snapshot(self, n: Node) -> EbsSnapshot | None:
        snap_id, owner = n["SnapshotId"].text(required=True), n["OwnerId"].text(required=True)
        size = n["VolumeSize"].integer(required=True, what="a size in GiB")
        encrypted = n["Encrypted"].boolean(required=True)
        key = n["KmsKeyId"].text(what="a key ARN")
        state, vol, start = n["State"].text(), n["VolumeId"].text(), n["StartTime"].time()
        desc = n["Description"].text()
        if snap_id is None or owner is None or size is None or encrypted is None:
            return None
        return EbsSnapshot(
            snapshot_id=snap_id,
            owner=owner,
            volume_size=size,
            encrypted=encrypted,
            kms_key_id=key or None,
            state=state or "completed",
            volume_id=vol or "vol-ffffffff",
            start_time=start or "",
            description=desc or "",
        )

    def volume(self, n: Node) -> Volume | None:
        vol_id = n["VolumeId"].text(required=True)
        size = n["Size"].integer(required=True, what="a size in GiB")
        vtype, az = n["VolumeType"].text(), n["AvailabilityZone"].text()
        encrypted = n["Encrypted"].boolean(required=True)
        key, snap, state, created = n["KmsKeyId"].text(), n["SnapshotId"].text(), n["State"].text(), n["CreateTime"]
        attachments = []
        for a in n["Attachments"].objects("an attachment"):
            iid, device = a["InstanceId"].text(required=True), a["Device"].text()
            a_state, at = a["State"].text(), a["AttachTime"].time()
            dot = a["DeleteOnTermination"].boolean()
            if iid is not None:
                attachments.append(Attachment(iid, device or "", a_state or "attached", at or "", dot is not False))
        created_at = created.time()
        if vol_id is None or size is None or encrypted is None:
            return None
        return Volume(
            volume_id=vol_id,
            size=size,
            volume_type=vtype or "gp3",
            availability_zone=az or "",
            encrypted=encrypted,
            kms_key_id=key or None,
            snapshot_id=snap or None,  # describe-volumes prints "" for a volume not made from a snapshot
            state=state or "available",
            create_time=created_at or "",
            attachments=attachments,
        )

    def instance(self, n: Node) -> Instance | None:
        iid = n["InstanceId"].text(required=True)
        image, itype = n["ImageId"].text(), n["InstanceType"].text()
        launched = n["LaunchTime"].time()
        az = n["Placement"]["AvailabilityZone"].text() if n["Placement"].obj() else None
        label = n["State"]["Name"].choice(_INSTANCE_STATES, required=True) if n["State"].obj() else None
        if n["State"].missing:
            n["State"].problem("missing: expected {Code, Name}")
        reason = None
        if n["StateReason"].obj():
            reason = {k: v for k in ("Code", "Message") if (v := n["StateReason"][k].text()) is not None}
        devices = []
        for b in n["BlockDeviceMappings"].objects("a block device mapping"):
            device = b["DeviceName"].text(required=True)
            vol = b["Ebs"]["VolumeId"].text() if b["Ebs"].obj() else None
            if device is not None and vol is not None:
                devices.append((device, vol))
        tags = n["Tags"].tags()
        transition, root = n["StateTransitionReason"].text(), n["RootDeviceName"].text()
        token = n["ClientToken"].text()
        if iid is None or label is None:
            return None
        template = None
        if LT_ID_TAG in tags:
            template = {"LaunchTemplateId": tags[LT_ID_TAG], "Version": tags.get(LT_VERSION_TAG, "$Default")}
        return Instance(
            instance_id=iid,
            image_id=image or "",
            instance_type=itype or "",
            # describe-instances does not say who launched an instance; CloudTrail's RunInstances does (below).
            launched_by="",
            launch_time=launched or "",
            availability_zone=az or "",
            state=InstanceState.from_label(label),
            state_reason=reason,
            state_transition_reason=transition or "",
            block_devices=devices,
            root_device_name=root or "/dev/xvda",
            tags=tags,
            launch_template=template,
            client_token=token or None,
        )

    def launch_templates(self, region: Region, base: str, who: str) -> None:
        ec2 = region.ec2
        quiet = not (self.root / base / "ec2").is_dir()
        node = self.read(
            f"{base}/{L.EC2_TEMPLATES}", who, L.EC2_TEMPLATES, None if quiet else "launch templates are unknown"
        )
        listed: set[str] = set()
        for t in node["LaunchTemplates"].objects("a launch template") if node else []:
            tid, name = t["LaunchTemplateId"].text(required=True), t["LaunchTemplateName"].text()
            default = t["DefaultVersionNumber"].integer()
            created, by = t["CreateTime"].time(), t["CreatedBy"].text()
            if tid is None:
                continue
            if not L.SAFE_NAME_RE.match(tid):
                shown = repr(tid) if len(tid) <= 40 else f"{tid[:20]!r}… ({len(tid)} characters)"
                t["LaunchTemplateId"].problem(f"{shown} is not a launch template id (expected lt- and 17 hex digits)")
                continue
            listed.add(tid)
            ec2.launch_templates[tid] = LaunchTemplate(tid, name or "", {}, default or 1, created or "", by or "")
            rel = f"{L.EC2_TEMPLATE_VERSIONS}/{tid}.json"
            versions = self.read(f"{base}/{rel}", who, rel, f"the versions of launch template {tid} are unknown")
            if versions is not None:
                self.template_versions(ec2.launch_templates[tid], versions, default is None)
        # Versions of templates describe-launch-templates did not list (or that file is missing): still usable.
        vdir = self.root / base / L.EC2_TEMPLATE_VERSIONS
        for f in sorted(vdir.glob("*.json")) if vdir.is_dir() else []:
            if f.stem in listed:
                continue
            versions = self.read(f"{base}/{L.EC2_TEMPLATE_VERSIONS}/{f.name}")
            if versions is None:
                continue
            first = next(iter(versions["LaunchTemplateVersions"].objects("a launch template version")), None)
            name = first["LaunchTemplateName"].text() if first else None
            lt = LaunchTemplate(f.stem, name or "", {}, 1)
            self.template_versions(lt, versions, True)
            ec2.launch_templates[f.stem] = lt

    def template_versions(self, lt: LaunchTemplate, node: Node, take_default: bool) -> None:
        for v in node["LaunchTemplateVersions"].objects("a launch template version"):
            number = v["VersionNumber"].integer(required=True, what="a version number")
            data = v["LaunchTemplateData"]
            if data.missing:
                data.problem("missing: expected the version's LaunchTemplateData")
            elif data.obj():
                self.block_devices(data["BlockDeviceMappings"])
            is_default = v["DefaultVersion"].boolean()
            if number is None or not data.obj():
                continue
            lt.versions[number] = dict(data.value)
            if take_default and is_default:
                lt.default_version = number

    # -- Auto Scaling -----------------------------------------------------------------------------------------

    def autoscaling(self, world: World, account: str, region: Region, base: str, who: str) -> None:
        asg = region.autoscaling
        whole = self.whole_dir(base, "autoscaling", who, "Auto Scaling groups, launch configurations and activities")

        def read(rel: str, what: str) -> Node | None:
            return self.read(f"{base}/{rel}", who, rel, None if whole else f"{what} are unknown")

        if (node := read(L.ASG_GROUPS, "Auto Scaling groups")) is not None:
            for g in node["AutoScalingGroups"].objects("an Auto Scaling group"):
                group = self.group(world, account, g)
                if group is not None:
                    asg.groups[group.name] = group
        if (node := read(L.ASG_CONFIGURATIONS, "launch configurations")) is not None:
            for c in node["LaunchConfigurations"].objects("a launch configuration"):
                name, image = c["LaunchConfigurationName"].text(required=True), c["ImageId"].text()
                arn, itype = c["LaunchConfigurationARN"].arn(), c["InstanceType"].text()
                devices = self.block_devices(c["BlockDeviceMappings"])
                created = c["CreatedTime"].time()
                spot = c["SpotPrice"].text(what="a price")
                if name is not None:
                    asg.launch_configurations[name] = LaunchConfiguration(
                        name, arn or "", image or "", itype or "", devices, created or "", spot
                    )
        if (node := read(L.ASG_ACTIVITIES, "scaling activities")) is not None:
            # describe-scaling-activities lists the newest first; the world keeps them oldest first.
            for a in reversed(node["Activities"].objects("a scaling activity")):
                activity = self.activity(a)
                if activity is not None and activity.group_name in asg.groups:
                    asg.groups[activity.group_name].activities.append(activity)

    def group(self, world: World, account: str, g: Node) -> AutoScalingGroup | None:
        name = g["AutoScalingGroupName"].text(required=True)
        arn, slr = g["AutoScalingGroupARN"].arn(), g["ServiceLinkedRoleARN"].arn()
        spec = g["LaunchTemplate"]
        mixed = g["MixedInstancesPolicy"]
        if spec.missing and mixed.obj() and mixed["LaunchTemplate"].obj():
            spec = mixed["LaunchTemplate"]["LaunchTemplateSpecification"]
            # The world has one launch template per group: the overrides of a mixed policy are kept aside.
            self.raw.setdefault("MixedInstancesPolicy", {})[arn or name or ""] = mixed.value
        template = None
        if spec.obj():
            template = {k: v for k in ("LaunchTemplateId", "LaunchTemplateName", "Version") if (v := spec[k].text())}
            if "LaunchTemplateId" not in template and "LaunchTemplateName" not in template:
                spec.problem("needs LaunchTemplateId or LaunchTemplateName")
        config = g["LaunchConfigurationName"].text()
        sizes = [g[k].integer(what="a number of instances") for k in ("MinSize", "MaxSize", "DesiredCapacity")]
        zones = g["AvailabilityZones"].texts("an Availability Zone")
        instances = [i for n in g["Instances"].objects("an instance") if (i := n["InstanceId"].text(required=True))]
        created = g["CreatedTime"].time()
        tags = g["Tags"].tags()
        if name is None:
            return None
        return AutoScalingGroup(
            name=name,
            arn=arn or "",
            # Auto Scaling uses AWSServiceRoleForAutoScaling when the group names no other role.
            service_linked_role_arn=slr or default_slr_arn(account, None, world.partition),
            launch_template=template,
            launch_configuration=config,
            min_size=sizes[0] or 0,
            max_size=sizes[1] if sizes[1] is not None else 1,
            desired_capacity=sizes[2] or 0,
            availability_zones=zones,
            instances=instances,
            created_time=created or "",
            tags=tags,
        )

    def activity(self, a: Node) -> ScalingActivity | None:
        values = {
            k: a[k].text(required=k in ("ActivityId", "AutoScalingGroupName"))
            for k in ("ActivityId", "AutoScalingGroupName", "Description", "Cause", "StatusCode", "StatusMessage")
        }
        start, end = a["StartTime"].time(), a["EndTime"].time()
        progress, details = a["Progress"].integer(), a["Details"].text()
        if values["ActivityId"] is None or values["AutoScalingGroupName"] is None:
            return None
        return ScalingActivity(
            activity_id=values["ActivityId"],
            group_name=values["AutoScalingGroupName"],
            description=values["Description"] or "",
            cause=values["Cause"] or "",
            start_time=start or "",
            end_time=end or "",
            status_code=values["StatusCode"] or "",
            status_message=values["StatusMessage"] or "",
            progress=progress if progress is not None else 100,
            details=details if details is not None else "{}",
        )

    # -- CloudTrail -------------------------------------------------------------------------------------------
