"""Workload and staffing API routes."""

from django.urls import path

from layers.api.workload import (
    GridWorkloadView,
    NodeStaffingView,
    RebalanceApplyView,
    RebalanceView,
)

urlpatterns = [
    path("workload/grids/", GridWorkloadView.as_view(), name="workload-grids"),
    path("workload/nodes/", NodeStaffingView.as_view(), name="workload-nodes"),
    path("workload/rebalance/", RebalanceView.as_view(), name="workload-rebalance"),
    path(
        "workload/rebalance/apply/",
        RebalanceApplyView.as_view(),
        name="workload-rebalance-apply",
    ),
]
