package cloudtrail

import "testing"

func TestFirstTarget(t *testing.T) {
	tests := []struct {
		name string
		req  map[string]any
		want string
	}{
		{"none", map[string]any{"roleArn": "arn:aws:iam::1:role/r", "roleSessionName": "s"}, ""},
		{"one", map[string]any{"roleName": "r", "x": 1.0}, "r"},
		{"most specific first", map[string]any{"name": "n", "vpcId": "vpc-1", "bucketName": "b", "resourceArn": "arn"}, "b"},
		{"empty and non-string skipped", map[string]any{"bucketName": "", "roleName": 7.0, "name": "n"}, "n"},
		{"empty", map[string]any{}, ""},
	}
	for _, tc := range tests {
		for range 20 { // map iteration order varies
			if got := firstTarget(tc.req); got != tc.want {
				t.Fatalf("%s: firstTarget = %q, want %q", tc.name, got, tc.want)
			}
		}
	}
}
