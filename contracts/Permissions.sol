// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @dev The three Registry views Permissions relies on.  Their shapes are
///      those of the OCN Registry, so this contract also works against an
///      upstream Registry deployment.
interface IOcnRegistry {
    function getOperatorByAddress(address party) external view returns (address operator, string memory domain);

    function getPartyDetailsByAddress(address partyAddress)
        external
        view
        returns (
            bytes2 countryCode,
            bytes3 partyId,
            uint8[] memory modulesSender,
            uint8[] memory modulesReceiver,
            uint8[] memory roles,
            address operatorAddress,
            string memory operatorDomain
        );

    function getPartyDetailsByOcpi(bytes2 countryCode, bytes3 partyId)
        external
        view
        returns (
            address partyAddress,
            uint8[] memory roles,
            uint8[] memory modulesSender,
            uint8[] memory modulesReceiver,
            address operatorAddress,
            string memory operatorDomain
        );
}

/// @title ocnd Permissions
/// @notice Services offered by registered parties and the agreements other
///         parties make with them.  Same external interface as the OCN
///         Permissions contract; differences are listed in contracts/README.md.
contract Permissions {
    bytes private constant SIG_PREFIX = "\x19Ethereum Signed Message:\n32";

    struct Service {
        string name;
        string url;
        uint256[] permissions;
    }

    IOcnRegistry private immutable _registry;

    /// @notice Providers that currently have a service (no stale entries, no duplicates).
    address[] public providers;
    mapping(address => uint256) private _providerPos; // 1-based, 0 = no service

    mapping(address => Service) private _services;

    /// user => providers the user currently has an agreement with, plus
    /// 1-based positions (0 = no agreement) for swap-and-pop removal
    mapping(address => address[]) private _agreements;
    mapping(address => mapping(address => uint256)) private _agreementPos;

    event ServiceUpdate(string name, string url, uint256[] permissions, address provider);
    event ServiceAgreement(address user, address provider);

    constructor(address registryAddress) {
        _registry = IOcnRegistry(registryAddress);
    }

    // ------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------

    function _recover(bytes memory packed, uint8 v, bytes32 r, bytes32 s) private pure returns (address signer) {
        bytes32 digest = keccak256(abi.encodePacked(SIG_PREFIX, keccak256(packed)));
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "Invalid signature: no signer recovered.");
    }

    function _hasParty(address party) private view returns (bool) {
        (address operator, ) = _registry.getOperatorByAddress(party);
        return operator != address(0);
    }

    // ------------------------------------------------------------------
    // Services
    // ------------------------------------------------------------------

    function setService(string calldata name, string calldata url, uint256[] calldata permissions) external {
        _setService(msg.sender, name, url, permissions);
    }

    function setServiceRaw(
        string calldata name,
        string calldata url,
        uint256[] calldata permissions,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        address signer = _recover(abi.encodePacked(name, url, permissions), v, r, s);
        _setService(signer, name, url, permissions);
    }

    function deleteService() external {
        _deleteService(msg.sender);
    }

    function deleteServiceRaw(address provider, uint8 v, bytes32 r, bytes32 s) external {
        address signer = _recover(abi.encodePacked(provider), v, r, s);
        require(signer == provider, "Signer and provided provider address different.");
        _deleteService(signer);
    }

    function _setService(
        address provider,
        string calldata name,
        string calldata url,
        uint256[] calldata permissions
    ) private {
        require(_hasParty(provider), "Trying to register a service without party listing in Registry.");
        require(permissions.length != 0, "No permissions given.");
        Service storage svc = _services[provider];
        svc.name = name;
        svc.url = url;
        svc.permissions = permissions;
        if (_providerPos[provider] == 0) {
            providers.push(provider);
            _providerPos[provider] = providers.length;
        }
        emit ServiceUpdate(name, url, permissions, provider);
    }

    function _deleteService(address provider) private {
        uint256 idx = _providerPos[provider];
        require(idx != 0, "Cannot delete service that does not exist.");
        uint256[] memory old = _services[provider].permissions;
        delete _services[provider];
        uint256 last = providers.length;
        if (idx != last) {
            address moved = providers[last - 1];
            providers[idx - 1] = moved;
            _providerPos[moved] = idx;
        }
        providers.pop();
        delete _providerPos[provider];
        emit ServiceUpdate("", "", old, provider);
    }

    // ------------------------------------------------------------------
    // Agreements
    // ------------------------------------------------------------------

    function createAgreement(address provider) external {
        _createAgreement(msg.sender, provider);
    }

    function createAgreementRaw(address provider, uint8 v, bytes32 r, bytes32 s) external {
        _createAgreement(_recover(abi.encodePacked(provider), v, r, s), provider);
    }

    function revokeAgreement(address provider) external {
        _revokeAgreement(msg.sender, provider);
    }

    function revokeAgreementRaw(address provider, uint8 v, bytes32 r, bytes32 s) external {
        _revokeAgreement(_recover(abi.encodePacked(provider), v, r, s), provider);
    }

    function _createAgreement(address user, address provider) private {
        require(_hasParty(user), "Service user has no party listing in Registry.");
        require(_providerPos[provider] != 0, "Provider has no registered Service.");
        require(_agreementPos[user][provider] == 0, "Agreement already made between user and provider.");
        address[] storage list = _agreements[user];
        list.push(provider);
        _agreementPos[user][provider] = list.length;
        emit ServiceAgreement(user, provider);
    }

    function _revokeAgreement(address user, address provider) private {
        require(_hasParty(user), "Service user has no party listing in Registry.");
        uint256 idx = _agreementPos[user][provider];
        if (idx == 0) {
            require(_providerPos[provider] != 0, "Provider has no registered Service.");
            revert("No Agreement made between user and provider.");
        }
        // An existing agreement can be revoked even after the provider
        // deleted its service (upstream refuses that).
        address[] storage list = _agreements[user];
        uint256 last = list.length;
        if (idx != last) {
            address moved = list[last - 1];
            list[idx - 1] = moved;
            _agreementPos[user][moved] = idx;
        }
        list.pop();
        delete _agreementPos[user][provider];
        emit ServiceAgreement(user, provider);
    }

    // ------------------------------------------------------------------
    // Views (unknown keys give zero values, never a revert)
    // ------------------------------------------------------------------

    function getService(address provider)
        external
        view
        returns (
            bytes2 countryCode,
            bytes3 partyId,
            string memory name,
            string memory url,
            uint256[] memory permissions
        )
    {
        (countryCode, partyId, , , , , ) = _registry.getPartyDetailsByAddress(provider);
        Service storage svc = _services[provider];
        return (countryCode, partyId, svc.name, svc.url, svc.permissions);
    }

    function getProviders() external view returns (address[] memory) {
        return providers;
    }

    function getUserAgreementsByAddress(address user) external view returns (address[] memory) {
        return _agreements[user];
    }

    function getUserAgreementsByOcpi(bytes2 countryCode, bytes3 partyId) external view returns (address[] memory) {
        (address user, , , , , ) = _registry.getPartyDetailsByOcpi(countryCode, partyId);
        return _agreements[user];
    }

    function hasUserAgreementByAddress(address user, address provider) external view returns (bool) {
        return _agreementPos[user][provider] != 0;
    }

    function hasUserAgreementByOcpi(bytes2 countryCode, bytes3 partyId, address provider)
        external
        view
        returns (bool)
    {
        (address user, , , , , ) = _registry.getPartyDetailsByOcpi(countryCode, partyId);
        return _agreementPos[user][provider] != 0;
    }
}
